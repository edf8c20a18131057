"""Hand-written lexicons behind the rules jurors and the rules generator (lower-case).

They are general word lists (profanity, insults, hazards, spoilage, daypart phrases, well-known
food / drink / restaurant brands), not the labelled titles: the jury is judged on titles it has not
seen. Multi-word entries are matched as phrases on word boundaries.
"""

from __future__ import annotations

PROFANITY = {
    "damn", "damned", "dammit", "hell", "crap", "crappy", "shit", "shitty", "bullshit", "bitch", "bitchin",
    "bitchy", "fuck", "fucking", "fucked", "wtf", "ass", "asses", "arse", "bastard", "piss", "pissed", "sexy",
    "sex", "porn", "porno", "nude", "nudes", "horny", "kill", "killing", "murder", "violence", "violent",
    "drunk", "drunken", "hate", "hateful", "nazi", "racist", "slut", "whore", "cunt", "dick", "cock", "boobs",
    "booze-fueled", "hungover", "stoned", "weed", "cocaine", "meth", "heroin",
}
INSULTS = {
    "loser", "losers", "idiot", "idiots", "moron", "morons", "stupid", "dumb", "dummies", "retard", "retarded",
    "retards", "hag", "hags", "slob", "slobs", "fatty", "fatties", "fatso", "trashy", "ghetto", "third-world",
    "lame", "freak", "freaks", "bimbo", "bimbos", "cretin", "imbecile", "scum", "peasant", "peasants", "lazy",
    "ugly people", "fat people", "old people", "poor people", "dumb people", "white trash", "redneck",
    "rednecks", "hillbilly", "savages", "savage", "thug", "thugs", "psycho", "crazy people", "lonely",
    "pathetic", "worthless", "gross people", "you slob", "you pig", "pigs",
    "shut up", "shut your", "fatso", "greedy pigs", "pig-out", "pig out", "slobs",
}
HAZARDS = {
    "poison", "poisonous", "poisoned", "toxic", "bleach", "ammonia", "antifreeze", "overdose", "overdosing",
    "starve", "starving yourself", "starvation", "skinny", "pro-ana", "purge", "undercooked", "raw chicken",
    "raw pork", "raw meat", "raw beef", "raw poultry", "raw eggs", "raw egg", "unpasteurised", "unpasteurized",
    "raw milk", "weapons", "weapon", "ammo", "ammunition", "guns", "gun", "firearms", "knives for kids",
    "cigarettes", "cigarette", "cigars", "vapes", "vape", "vaping", "tobacco", "nicotine", "chug",
    "drinking games", "binge", "binge drinking", "diet pills", "laxative cleanse", "detox tea for kids",
    "make you sick", "makes you sick", "get sick", "food poisoning", "pest bait", "rat poison", "pesticide",
    "forage", "foraged", "expired medicine", "lottery", "gambling", "fireworks",
    "choking", "choking-hazard", "choking hazard", "choke", "knife fight", "fist fight", "brawl", "stab",
    "stabbing", "revenge", "assault", "lighter fluid punch", "matches and lighters",
    "machete", "machetes", "switchblade", "switchblades", "brass knuckles", "crossbow", "grenade",
    "grenades", "knife crime",
}
HOUSEHOLD_CHEMICALS = {"bleach", "detergent", "detergents", "pods", "soap", "cleaner", "cleaners", "drain",
                       "laundry", "disinfectant", "lye", "lighter fluid", "charcoal lighter",
    "dishwasher", "dishwasher tablet", "dishwasher tablets", "gasoline", "petrol", "diesel", "motor oil",
    "lamp oil", "paint", "glue", "bath salts", "shampoo", "conditioner", "toothpaste", "mouthwash",
    "fertiliser", "fertilizer", "weed killer", "insecticide", "sanitiser", "sanitizer", "rubbing alcohol",
    "kerosene", "paraffin", "turpentine", "cat litter",
}
CONSUMPTION = {"drink", "drinks", "cleanse", "shot", "shots", "snack", "snacks", "eat", "eating", "smoothie",
               "smoothies", "juice", "cocktail", "cocktails", "treat", "treats", "flavours", "flavors", "candy",
    "punch", "slushie", "slushies", "shake", "shakes", "milkshake", "milkshakes", "soup", "dip", "dips",
    "sauce", "lemonade", "tea", "latte", "jelly", "jello", "popsicle", "popsicles", "ice pops", "dinner",
    "lunch", "breakfast", "brunch", "meal", "meals", "dessert", "food", "recipe", "recipes", "barbecue",
    "snacking", "flavoured", "flavored", "lollies", "gummies", "sips", "bites", "nibbles", "chews",
}
VULNERABLE = {"kids", "kid", "toddler", "toddlers", "baby", "babies", "newborn", "newborns", "infant", "infants",
              "children", "child", "pregnant", "pregnancy", "preschoolers"}
RISKY_FOR_VULNERABLE = {"alcohol", "alcoholic", "beer", "beers", "wine", "wines", "vodka", "whiskey", "whisky",
                        "liquor", "spirits", "cocktails", "energy drink", "energy drinks", "caffeine", "espresso",
                        "coffee", "honey", "raw", "cookie dough", "sushi", "unpasteurised", "unpasteurized",
                        "diet pills", "supplements", "melatonin", "soft cheese", "uncooked",
    "matches", "lighters", "lighter", "candles", "knives", "knife", "scissors", "razor", "razors",
    "batteries", "button batteries", "pills", "medicine", "medication", "whole grapes", "popcorn", "hard candy",
}
SPOILAGE = {
    "moldy", "mouldy", "mold", "mould", "rotten", "rotting", "rot", "rancid", "stale", "soggy", "slimy", "expired",
    "spoiled", "spoilt", "gross", "gross-out", "disgusting", "vomit", "vomit-inducing", "gag", "gag-worthy",
    "puke", "barf", "nasty", "greasy", "mystery meat", "bland", "boring", "burnt", "burned", "lumpy", "wilted",
    "bruised", "sour milk", "fishy-smelling", "smelly", "stinky", "stinking", "week-old", "month-old",
    "days-old", "leftover scraps", "scraps", "sludge", "slop", "gunk", "crusty old", "inedible", "yucky",
    "icky", "nauseating", "revolting", "unappetising", "unappetizing", "maggot", "maggots", "bugs", "roaches",
    "hair in", "past its date", "freezer-burned", "freezer burnt", "mushy", "curdled", "fermented milk gone",
    "tasteless", "flavorless", "flavourless", "dry and chewy", "rubbery", "sickly",
    # decay, vermin, dirt and waste: a shopper reads these as "this food is unsafe or disgusting"
    "putrid", "fetid", "foul-smelling", "festering", "decaying", "decomposing", "decomposed", "mouldering",
    "hairy", "furry", "wormy", "worm-eaten", "worms", "infested", "bug-infested", "insects", "weevils", "weevil",
    "mites", "flies", "fly-blown", "rat-nibbled", "droppings", "dumpster", "dumpster dive", "dumpster-dived",
    "garbage", "roadkill", "from the floor", "off the floor", "half-eaten", "chewed", "licked", "spat",
    "germs", "germy", "filthy", "unwashed", "sweaty", "gone off", "past its best", "out of date", "out-of-date",
    "contaminated", "crawling with",
    "smells off", "smell off", "smelling off", "tastes off", "gone bad", "goes bad", "fuzz", "fuzzy mould",
    "fuzzy mold", "from last week", "from last month", "from last year", "last month's", "last year's",
}
PLACEHOLDERS = {"lorem", "ipsum", "untitled", "title here", "carousel title", "null", "none", "undefined", "n/a",
                "todo", "tbd", "placeholder", "test title", "sample title", "insert title", "xxx", "asdf", "nan",
                "title goes here", "lorem ipsum"}
GENERIC = {"products", "product", "things", "thing", "items", "item", "stuff", "picks", "selection", "carousel",
           "title", "category", "categories", "department", "departments", "misc", "miscellaneous", "various",
           "assorted", "goods", "collection", "collections", "list", "buy", "now", "sku", "skus", "id"}
STOPWORDS = {"a", "an", "the", "and", "or", "of", "for", "to", "in", "on", "at", "with", "your", "you", "my", "our",
             "we", "is", "are", "be", "it", "its", "this", "that", "from", "by", "up", "all", "every", "more", "&",
             "+", "-", "-", ":", "way", "ways", "day"}
INCONGRUOUS = {"elbow", "elbows", "kneecap", "kneecaps", "toenail", "toenails", "armpit", "armpits", "earwax",
               "shoelaces", "shoe laces", "socks stew", "clouds", "dancing", "sleeping", "screaming", "crying",
               "tears", "sadness", "existential", "gravel", "concrete", "asphalt", "plastic soup", "homework",
               "taxes", "spreadsheets", "carburetor",
    # everyday non-food objects, animals and actions that no grocery carousel is about ("Tomato ladder singing")
    "window", "windows", "ladder", "ladders", "violin", "violins", "piano", "pianos", "guitar", "guitars",
    "trumpet", "trombone", "elephant", "elephants", "giraffe", "giraffes", "hippo", "rhino", "penguin",
    "penguins", "shoe", "shoes", "sock", "socks", "battery", "batteries", "umbrella", "umbrellas", "bicycle",
    "bicycles", "pencil", "pencils", "stapler", "hammer", "hammers", "screwdriver", "wrench", "engine",
    "engines", "tyre", "tyres", "tire", "tires", "brick", "bricks", "roof", "chimney", "lamp", "lamps",
    "wardrobe", "helicopter", "submarine", "volcano", "skyscraper", "tractor", "chainsaw", "lawnmower",
    "singing", "whisper", "whispers", "whispering", "forgot", "forgotten", "sneezing", "yawning", "snoring",
    "helmet", "helmets", "argue", "argues", "arguing", "complain", "complaining", "coughing", "mirror",
    "mirrors", "curtain", "curtains", "carpet", "carpets", "doorknob", "suitcase", "briefcase", "passport",
    "printer", "keyboard", "laptop", "telescope", "microscope", "spreadsheet",
}
TEMPERATURES = {"frozen", "hot", "warm", "cold", "iced", "chilled", "boiling"}
# Title filler: praise / merchandising words that carry no topic of their own ("Your favourite ...").
TITLE_FILLER = {"favourite", "favourites", "favorite", "favorites", "best", "top", "new", "great", "good",
                "perfect", "tasty", "yummy", "delicious", "essential", "essentials", "staple", "staples", "restock",
                "reorder", "ideas", "idea", "classic", "classics", "picks", "pick", "finds", "treats", "love",
                "loved", "lovers", "go-to", "must-have", "must-haves", "special", "specials", "deals", "savings",
                "try", "fresh", "everyday", "quick", "easy", "simple", "weekly", "daily", "time", "night",
                "nights", "corner", "basics", "faves", "selections", "choices", "options", "again"}
# Closed-class descriptive words (colours, number words, tastes and textures) that never stand right before
# the article "the" / "an" in a well-formed title ("green the ..."); verbs that do ("start the day",
# "beat the heat", "warm the soul") are deliberately absent.
DESCRIPTIVE = {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
               "gray", "golden", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve", "twenty", "hundred", "sweet", "salty", "sour", "bitter", "spicy", "savory",
               "savoury", "crispy", "crunchy", "creamy", "cheesy", "juicy", "tangy", "zesty", "smoky", "tasty",
               "yummy", "delicious", "fresh", "organic", "healthy", "frozen", "iced", "big", "small", "little",
               "tiny", "huge", "large",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety",
}
# Words a well-formed title does not end on ("Snacks for the", "Pasta and", "Treats for your"); prepositions
# are absent because phrasal verbs end titles well ("Sauces you come back to").
DANGLING = {"the", "a", "an", "and", "or", "nor", "your", "my", "our", "their", "his", "her",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety",
}
INJECTION_PATTERNS = (
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(instructions?|rules?|prompts?|guidelines?|above)\b",
    r"\b(approve|allow) (this|it|me)\b", r"\bsystem prompt\b", r"\byou are now\b", r"\bjailbreak\b",
)

# Allergens and the words for people allergic to them: a title pairing the two (without "-free") is unsafe.
ALLERGENS = {"peanut", "peanuts", "nut", "nuts", "tree nut", "tree nuts", "almond", "almonds", "cashew", "cashews",
             "walnut", "walnuts", "gluten", "wheat", "shellfish", "shrimp", "prawns", "crab", "lobster", "sesame",
             "soy", "egg", "eggs", "milk", "dairy", "lactose", "fish"}
ALLERGIC = {"allergic", "allergy", "allergies", "coeliac", "coeliacs", "celiac", "celiacs", "intolerant",
            "lactose-intolerant", "anaphylaxis", "anaphylactic"}
# Medicines that must not be mixed with alcohol (a title pairing them with an ALCOHOL word is unsafe).
MEDICATION = {"pills", "pill", "sleeping pills", "painkillers", "painkiller", "medication", "medications", "meds",
              "medicine", "medicines", "tranquilisers", "tranquilizers", "sedatives", "opioids", "xanax", "valium",
              "antidepressants", "antibiotics"}
# Blades / weapons and anger or fighting words: together they read as violence, not cooking.
BLADES = {"knife", "knives", "blade", "blades", "cleaver", "cleavers", "machete", "axe", "axes", "gun", "guns"}
ANGER = {"angry", "anger", "rage", "raging", "furious", "fight", "fights", "fighting", "attack", "attacks",
         "revenge", "kill", "hurt", "threaten", "threatening"}

# Dishes and ingredients from many cuisines, spelt as English menus spell them: known topic words for the
# appetite juror (its "no recognisable topic word" rule reads an unknown, oddly spelt word as gibberish, and
# "tzatziki" or "tteokbokki" are spelt less like English than "xyzzy"). Multi-word entries add their words.
WORLD_FOODS = {
    "kimchi", "gochujang", "gochugaru", "bulgogi", "bibimbap", "japchae", "galbi", "banchan", "doenjang",
    "tteokbokki", "makgeolli", "soju", "sake", "tzatziki", "pita", "pitta", "halloumi", "labneh", "zaatar",
    "za'atar", "falafel", "hummus", "houmous", "tahini", "baba ganoush", "tabbouleh", "fattoush", "shawarma",
    "kebab", "kebabs", "kofta", "dolma", "dolmades", "baklava", "halva", "harissa", "couscous", "tagine",
    "merguez", "shakshuka", "shakshouka", "ful medames", "injera", "berbere", "jollof", "fufu", "egusi", "suya",
    "plantain", "plantains", "ackee", "jerk", "empanada", "empanadas", "arepa", "arepas", "tamales", "tamale",
    "pozole", "mole", "enchiladas", "quesadillas", "quesadilla", "burritos", "burrito", "tortillas", "tostadas",
    "elote", "churros", "horchata", "pupusas", "ceviche", "chimichurri", "feijoada", "brigadeiro", "paella",
    "tapas", "chorizo", "gazpacho", "croquetas", "patatas bravas", "manchego", "risotto", "pesto", "burrata",
    "mozzarella", "ricotta", "prosciutto", "pancetta", "focaccia", "ciabatta", "bruschetta", "arancini",
    "cannoli", "tiramisu", "gelato", "panettone", "polenta", "orzo", "farro", "bulgur", "freekeh", "quinoa",
    "amaranth", "teff", "kasha", "borscht", "blini", "pelmeni", "pierogi", "pierogies", "kielbasa",
    "sauerkraut", "schnitzel", "spaetzle", "pretzels", "bratwurst", "strudel", "raclette", "fondue", "gruyere",
    "brie", "camembert", "roquefort", "croissants", "brioche", "baguette", "crepes", "galettes", "ratatouille",
    "cassoulet", "bouillabaisse", "quiche", "madeleines", "macarons", "eclairs", "gravlax", "haggis",
    "scones", "crumpets", "pasties", "kedgeree", "poutine", "sushi", "sashimi", "onigiri", "tempura",
    "teriyaki", "yakitori", "katsu", "donburi", "matcha", "mochi", "dorayaki", "takoyaki", "okonomiyaki",
    "wasabi", "furikake", "ponzu", "dashi", "kombu", "nori", "natto", "ramen", "udon", "soba", "miso", "tofu",
    "tempeh", "seitan", "edamame", "gyoza", "dumplings", "bao", "dim sum", "congee", "laksa", "rendang",
    "satay", "sambal", "nasi goreng", "pad thai", "tom yum", "larb", "som tam", "pho", "banh mi", "curry",
    "masala", "tikka", "korma", "vindaloo", "biryani", "dal", "daal", "dhal", "paneer", "naan", "roti",
    "chapati", "paratha", "samosa", "samosas", "pakora", "pakoras", "chutney", "raita", "lassi", "chai",
    "ghee", "tandoori", "adobo", "sinigang", "lumpia", "pancit", "ube", "kaya", "xiaolongbao", "baozi",
    "jiaozi", "mapo", "kung pao", "char siu", "hoisin", "bok choy", "lo mein", "chow mein", "wontons",
    "sriracha", "kombucha", "kefir", "skyr", "acai", "poke", "mezcal", "tepache", "agua fresca",
    "dulce de leche", "alfajores", "chipotle", "ancho", "poblano", "jalapeno", "jalapenos", "habanero",
    "tomatillo", "cotija", "queso", "fresco", "crema", "salsa verde", "pico de gallo", "guacamole", "gnocchi",
    "chilaquiles", "huevos rancheros", "shakshuka", "mezze", "meze", "moussaka", "spanakopita", "souvlaki",
    "gyros", "feta", "kefta", "pastrami", "knish", "latkes", "challah", "bagels", "lox", "matzo", "rugelach",
}

# Daypart phrases -> the dayparts they are compatible with (a title naming one is wrong in the others).
DAYPART_PHRASES = {
    "breakfast": {"breakfast"}, "breakfasts": {"breakfast"}, "morning": {"breakfast"}, "mornings": {"breakfast"},
    "good morning": {"breakfast"}, "sunrise": {"breakfast"}, "wake-up": {"breakfast"}, "wake up": {"breakfast"},
    "early bird": {"breakfast"}, "start your day": {"breakfast"}, "start the day": {"breakfast"},
    "rise and shine": {"breakfast"}, "a.m.": {"breakfast"}, "daybreak": {"breakfast"},
    "brunch": {"breakfast", "lunch"}, "lunch": {"lunch"}, "lunches": {"lunch"}, "lunchtime": {"lunch"},
    "lunchbox": {"lunch"}, "lunch box": {"lunch"}, "midday": {"lunch"}, "noon": {"lunch"},
    "dinner": {"dinner"}, "dinners": {"dinner"}, "supper": {"dinner"}, "suppers": {"dinner"},
    "dinnertime": {"dinner"}, "after-dinner": {"dinner", "late"}, "after dinner": {"dinner", "late"},
    "tonight": {"dinner", "late"}, "evening": {"dinner", "late"}, "evenings": {"dinner", "late"},
    "happy hour": {"dinner", "late"}, "steakhouse": {"dinner"}, "date night": {"dinner", "late"},
    "night": {"dinner", "late"}, "nights": {"dinner", "late"}, "late-night": {"late"}, "late night": {"late"},
    "late nights": {"late"}, "midnight": {"late"}, "night owl": {"late"}, "bedtime": {"late"},
    "before bed": {"late"}, "after dark": {"late"}, "nightcap": {"late"}, "nightcaps": {"late"},
    "after hours": {"late"},
}
ALCOHOL = {"beer", "beers", "wine", "wines", "cocktail", "cocktails", "whiskey", "whiskeys", "whisky", "vodka",
           "liquor", "spirits", "mimosa", "mimosas", "margarita", "margaritas", "booze", "ale", "ales", "lager",
           "bourbon", "gin", "rum", "tequila", "champagne", "prosecco", "sangria", "nightcap", "nightcaps"}

# Well-known food, drink, household and restaurant brands and chains (lower-case).
BRANDS = {
    "coca-cola", "coca cola", "coke", "diet coke", "pepsi", "dr pepper", "mountain dew", "sprite", "fanta",
    "7up", "7-up", "red bull", "monster energy", "gatorade", "powerade", "vitaminwater", "tropicana",
    "minute maid", "simply orange", "ocean spray", "capri sun", "kool-aid", "snapple", "lipton", "nestea",
    "la croix", "lacroix", "perrier", "san pellegrino", "evian", "dasani", "aquafina",
    "starbucks", "dunkin", "dunkin'", "folgers", "maxwell house", "nescafe", "nescafé", "keurig", "nespresso",
    "lavazza", "peet's", "tim hortons", "kellogg's", "kelloggs", "kellogg", "general mills", "cheerios",
    "frosted flakes", "froot loops", "lucky charms", "special k", "quaker", "nature valley", "kind bar",
    "clif", "clif bar", "larabar", "oreo", "oreos", "chips ahoy", "nabisco", "ritz", "triscuit", "wheat thins",
    "goldfish", "cheez-it", "cheez it", "pringles", "lay's", "lays", "doritos", "cheetos", "fritos", "tostitos",
    "ruffles", "sunchips", "kettle brand", "utz", "pepperidge farm", "keebler", "little debbie", "hostess",
    "twinkies", "hershey's", "hersheys", "hershey", "reese's", "kit kat", "kitkat", "snickers", "m&m's", "m&ms",
    "twix", "milky way", "skittles", "starburst", "haribo", "jolly rancher", "nestle", "nestlé",
    "cadbury", "lindt", "ghirardelli", "toblerone", "ferrero", "nutella", "ben & jerry's",
    "ben and jerry's", "haagen-dazs", "häagen-dazs", "haagen dazs", "breyers", "dreyer's", "blue bell",
    "klondike", "talenti", "kraft", "heinz", "hellmann's", "hellmanns", "french's", "hunt's",
    "campbell's", "campbells", "progresso", "knorr", "barilla", "ragu", "ragú", "prego", "bertolli",
    "kraft heinz", "velveeta", "philadelphia", "oscar mayer", "hillshire", "ball park", "tyson", "perdue",
    "jimmy dean", "smithfield", "hormel", "spam", "butterball", "johnsonville", "stouffer's", "stouffers",
    "lean cuisine", "hungry-man", "marie callender's", "digiorno", "red baron", "totino's", "tombstone",
    "hot pockets", "bagel bites", "eggo", "pillsbury", "betty crocker", "duncan hines", "ghirardelli",
    "jell-o", "jello", "kool whip", "cool whip", "land o'lakes", "land o lakes", "tillamook", "sargento",
    "kraft singles", "chobani", "yoplait", "dannon", "danone", "activia", "oikos", "fage", "stonyfield",
    "siggi's", "almond breeze", "oatly", "lactaid", "fairlife", "smucker's", "smuckers",
    "jif", "skippy", "peter pan", "welch's", "aunt jemima", "pearl milling", "mrs. butterworth's",
    "log cabin", "uncle ben's", "ben's original", "minute rice", "rice-a-roni", "kraft mac", "annie's",
    "amy's", "kashi", "bob's red mill", "king arthur", "gold medal", "domino", "c&h", "morton", "mccormick",
    "lawry's", "old el paso", "taco bell", "ortega", "goya", "la costeña", "chi-chi's", "tabasco",
    "sriracha huy fong", "frank's redhot", "cholula", "a.1.", "a1 sauce", "lea & perrins", "kikkoman",
    "hidden valley", "ken's", "newman's own", "wish-bone", "vlasic", "claussen", "mt. olive", "del monte",
    "dole", "chiquita", "green giant", "birds eye", "ore-ida", "mccain", "bush's", "van camp's",
    "chef boyardee", "hamburger helper", "lunchables", "gerber", "enfamil", "similac", "pampers", "huggies",
    "luvs", "purina", "pedigree", "iams", "friskies", "fancy feast", "meow mix", "milk-bone", "tide",
    "downy", "clorox", "lysol", "windex", "febreze", "glade", "palmolive",
    "bounty", "charmin", "kleenex", "cottonelle", "ziploc", "hefty", "reynolds",
    "colgate", "crest", "oral-b", "listerine", "old spice", "gillette", "schick", "olay",
    "neutrogena", "pantene", "head & shoulders", "tylenol", "advil", "motrin", "aleve", "nyquil", "dayquil",
    "centrum", "one a day", "band-aid", "mcdonald's", "mcdonalds", "burger king", "wendy's", "kfc",
    "popeyes", "chick-fil-a", "domino's", "pizza hut", "papa john's", "little caesars", "chipotle",
    "panera", "olive garden", "applebee's", "ihop", "denny's", "waffle house", "cheesecake factory",
    "shake shack", "five guys", "in-n-out", "white castle", "arby's", "dairy queen", "krispy kreme",
    "cinnabon", "auntie anne's", "panda express", "p.f. chang's", "red lobster", "texas roadhouse",
    "trader joe's", "trader joes", "whole foods", "costco", "kirkland", "walmart", "great value",
    "kroger", "safeway", "aldi", "lidl", "instacart", "doordash", "uber eats", "amazon", "budweiser",
    "bud light", "coors", "miller lite", "corona", "heineken", "stella artois", "guinness",
    "blue moon", "samuel adams", "michelob", "modelo", "jack daniel's", "jack daniels", "jim beam",
    "johnnie walker", "smirnoff", "absolut", "grey goose", "bacardi", "captain morgan", "jose cuervo",
    "patron", "hennessy", "barefoot", "yellow tail", "sutter home", "white claw", "mike's hard",
    "boston market", "sabra", "boar's head", "hillshire farm", "sara lee", "nature's own",
    "dave's killer bread", "thomas'", "entenmann's", "sunbeam", "frito-lay", "planters",
    "blue diamond", "wonderful pistachios", "smartfood", "orville redenbacher", "pop secret", "act ii",
    "jiffy pop", "slim jim", "jack link's", "beyond meat", "morningstar", "boca", "gardein",
    "quorn", "tofurky", "halo top", "enlightened", "so delicious", "naked juice", "bolthouse",
    "odwalla", "v8", "muscle milk", "premier protein", "slimfast", "atkins",
    "rxbar", "belvita", "pop-tarts", "pop tarts", "toaster strudel", "nutri-grain", "rice krispies",
    "honey nut cheerios", "cap'n crunch", "captain crunch", "cocoa puffs", "trix", "wheaties", "chex",
    "life cereal", "raisin bran", "frosted mini-wheats", "grape-nuts", "honey bunches of oats",
}
GENERIC_POSSESSORS = {"kid", "kids", "mom", "moms", "mother", "mothers", "father", "fathers", "dad", "dads",
                      "grandma", "grandpa", "granny", "chef", "chefs", "baker", "bakers", "farmer", "farmers",
                      "today", "valentine", "st", "world", "nature", "children", "men", "women", "everyone",
                      "family", "families", "season", "summer", "winter", "autumn", "spring", "week", "year",
                      "shepherd", "butcher", "fisherman", "gardener", "lover", "lovers", "cook", "host",
                      "hostess", "teacher", "student", "grocer", "people", "nation", "city", "town", "home",
                      "day", "night", "morning", "sunday", "monday", "tuesday", "wednesday", "thursday",
                      "friday", "saturday", "new year", "mother's", "father's", "it", "that", "what", "there",
                      "here", "who", "let", "he", "she"}
