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
}
HOUSEHOLD_CHEMICALS = {"bleach", "detergent", "detergents", "pods", "soap", "cleaner", "cleaners", "drain",
                       "laundry", "disinfectant", "lye", "lighter fluid", "charcoal lighter"}
CONSUMPTION = {"drink", "drinks", "cleanse", "shot", "shots", "snack", "snacks", "eat", "eating", "smoothie",
               "smoothies", "juice", "cocktail", "cocktails", "treat", "treats", "flavours", "flavors", "candy"}
VULNERABLE = {"kids", "kid", "toddler", "toddlers", "baby", "babies", "newborn", "newborns", "infant", "infants",
              "children", "child", "pregnant", "pregnancy", "preschoolers"}
RISKY_FOR_VULNERABLE = {"alcohol", "alcoholic", "beer", "beers", "wine", "wines", "vodka", "whiskey", "whisky",
                        "liquor", "spirits", "cocktails", "energy drink", "energy drinks", "caffeine", "espresso",
                        "coffee", "honey", "raw", "cookie dough", "sushi", "unpasteurised", "unpasteurized",
                        "diet pills", "supplements", "melatonin", "soft cheese", "uncooked"}
SPOILAGE = {
    "moldy", "mouldy", "mold", "mould", "rotten", "rotting", "rot", "rancid", "stale", "soggy", "slimy", "expired",
    "spoiled", "spoilt", "gross", "gross-out", "disgusting", "vomit", "vomit-inducing", "gag", "gag-worthy",
    "puke", "barf", "nasty", "greasy", "mystery meat", "bland", "boring", "burnt", "burned", "lumpy", "wilted",
    "bruised", "sour milk", "fishy-smelling", "smelly", "stinky", "stinking", "week-old", "month-old",
    "days-old", "leftover scraps", "scraps", "sludge", "slop", "gunk", "crusty old", "inedible", "yucky",
    "icky", "nauseating", "revolting", "unappetising", "unappetizing", "maggot", "maggots", "bugs", "roaches",
    "hair in", "past its date", "freezer-burned", "freezer burnt", "mushy", "curdled", "fermented milk gone",
    "tasteless", "flavorless", "flavourless", "dry and chewy", "rubbery", "sickly",
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
               "taxes", "spreadsheets", "carburetor"}
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
               "tiny", "huge", "large"}
# Words a well-formed title does not end on ("Snacks for the", "Pasta and", "Treats for your"); prepositions
# are absent because phrasal verbs end titles well ("Sauces you come back to").
DANGLING = {"the", "a", "an", "and", "or", "nor", "your", "my", "our", "their", "his", "her"}
INJECTION_PATTERNS = (
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(instructions?|rules?|prompts?|guidelines?|above)\b",
    r"\b(approve|allow) (this|it|me)\b", r"\bsystem prompt\b", r"\byou are now\b", r"\bjailbreak\b",
)

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
