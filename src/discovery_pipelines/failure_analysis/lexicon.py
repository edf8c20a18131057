"""Small curated lexicons for product-search query analysis (home improvement + general retail).

Used by the failure taxonomy (:mod:`discovery_pipelines.failure_analysis.taxonomy`) to name what a query
asks for, and by the offline rules generator (:mod:`discovery_pipelines.synthetic.rules`) to write
queries of the same kinds. Entries are lower-case. English is the reference language; German and
Finnish entries cover the commonest words only (catalogue titles in those languages are rare here).

The attribute classes follow the usual product-search query-attribute taxonomies (e.g. the
"query attribute value extraction" classes of Amazon's ESCI/Shopping Queries work: color, size,
material, brand, gender, model) and the Home Depot competition's known hard cases (units written
many ways, model numbers, misspellings).
"""

from __future__ import annotations

import re

COLORS = frozenset("""
white black gray grey silver gold red blue green yellow orange purple pink brown beige tan ivory
cream bronze copper chrome nickel brass almond bisque biscuit espresso
natural clear charcoal navy teal aqua turquoise burgundy maroon khaki taupe sand slate graphite
champagne pewter platinum oil-rubbed rubbed satin matte glossy gloss antique white-wash
weiß weiss schwarz grau rot blau grün gelb braun silber
valkoinen musta harmaa punainen sininen vihreä keltainen ruskea hopea
""".split())

MATERIALS = frozenset("""
steel stainless aluminum aluminium iron cast-iron brass copper bronze zinc titanium metal wood wooden
oak pine cedar maple birch bamboo teak walnut cherry plywood mdf particleboard hardwood vinyl pvc cpvc
abs pex polycarbonate acrylic plastic nylon rubber silicone fiberglass glass ceramic porcelain
granite marble quartz stone concrete cement brick slate travertine leather fabric cotton polyester
wool jute sisal canvas foam latex laminate composite resin wicker rattan asphalt gypsum drywall
stahl edelstahl holz kunststoff glas messing kupfer
teräs ruostumaton puu muovi lasi messinki kupari
""".split())

GENDER_AGE = frozenset("""
men mens men's male man women womens women's female woman ladies lady girls girl boys boy kids kid
children child childrens children's baby babies infant toddler youth teen junior unisex adult adults
herren damen kinder baby jungen mädchen
miesten naisten lasten vauva
""".split())

SIZE_WORDS = frozenset("""
small medium large xl xxl xs xlarge x-large mini compact jumbo oversized king queen twin full
california petite tall wide narrow slim thin thick long short deep shallow height width depth
length diameter dia size sizes fit fits fitting standard regular heavy-duty
klein mittel groß gross breit schmal lang kurz
pieni keskikokoinen suuri iso leveä kapea pitkä lyhyt
""".split())

NEGATIONS = frozenset("""
no not without non none free less cordless wireless frameless tankless brushless unfinished
ungrounded unscented unpainted borderless handleless cordfree
ohne kein keine nicht
ilman ei
""".split())
NEGATION_PATTERNS = re.compile(r"(?:^|\s)(?:non-\w+|\w+-free|\w+less|-\w+)(?=\s|$)")

OCCASION_INTENT = frozenset("""
outdoor outdoors indoor indoors patio garden yard lawn kitchen bathroom bath bedroom living
basement garage office kids' christmas holiday halloween thanksgiving easter gift gifts party
wedding camping travel commercial residential pool deck porch shower closet laundry pantry
emergency replacement repair diy
draußen garten küche bad
ulko piha keittiö kylpyhuone
""".split())

CATEGORY_TERMS = frozenset("""
appliances appliance tools tool hardware lighting lights light flooring floors floor furniture
decor plumbing electrical paint paints supplies accessories accessory storage organization
gardening heating cooling building materials
lumber doors windows door window cabinets cabinet countertops rugs rug fixtures fixture
equipment parts part kit kits set sets products product items stuff things
werkzeug werkzeuge möbel beleuchtung
työkalut huonekalut valaistus
""".split())

STOPWORDS = frozenset("""
a an the and or of for with in on at to by from x w/ w/o & - + is are be as into per
und oder mit für von der die das ein eine
ja tai kanssa
""".split())

# unit surface forms -> canonical unit (used to spot numeric specs and to write unit variants)
UNITS: dict[str, str] = {
    "in": "inch", "in.": "inch", "inch": "inch", "inches": "inch", '"': "inch", "''": "inch",
    "ft": "foot", "ft.": "foot", "foot": "foot", "feet": "foot", "'": "foot",
    "yd": "yard", "yd.": "yard", "yard": "yard", "yards": "yard",
    "mm": "millimeter", "cm": "centimeter", "m": "meter", "meter": "meter", "meters": "meter",
    "gal": "gallon", "gal.": "gallon", "gallon": "gallon", "gallons": "gallon",
    "qt": "quart", "qt.": "quart", "quart": "quart", "oz": "ounce", "oz.": "ounce", "ounce": "ounce",
    "lb": "pound", "lb.": "pound", "lbs": "pound", "lbs.": "pound", "pound": "pound", "pounds": "pound",
    "v": "volt", "volt": "volt", "volts": "volt", "-volt": "volt",
    "w": "watt", "watt": "watt", "watts": "watt", "-watt": "watt",
    "a": "amp", "amp": "amp", "amps": "amp", "ah": "amp-hour", "btu": "btu", "psi": "psi",
    "gpm": "gpm", "gpf": "gpf", "cfm": "cfm", "rpm": "rpm", "hp": "horsepower", "cc": "cc",
    "sq.": "square", "sq": "square", "cu.": "cubic", "cu": "cubic", "l": "liter", "liter": "liter",
    "k": "kelvin", "lumens": "lumen", "lumen": "lumen", "mil": "mil", "gauge": "gauge", "ga": "gauge",
    "awg": "gauge", "pack": "pack", "pk": "pack", "pc": "piece", "piece": "piece", "pieces": "piece",
    "tuumaa": "inch", "zoll": "inch",
}
# written forms per canonical unit: (abbreviation as in titles, full word)
UNIT_FORMS: dict[str, tuple[str, ...]] = {
    "inch": ("in.", "inch", "in", '"'),
    "foot": ("ft.", "foot", "ft", "feet"),
    "gallon": ("gal.", "gallon", "gal"),
    "pound": ("lb.", "pound", "lbs"),
    "volt": ("-Volt", " volt", "v"),
    "watt": ("-Watt", " watt", "w"),
    "ounce": ("oz.", "ounce", "oz"),
    "quart": ("qt.", "quart", "qt"),
}
FRACTION_WORDS: dict[str, tuple[str, str]] = {
    "1/2": ("half", "0.5"), "1/4": ("quarter", "0.25"), "3/4": ("three quarter", "0.75"),
    "1/8": ("one eighth", "0.125"), "3/8": ("three eighth", "0.375"), "5/8": ("five eighth", "0.625"),
    "1/3": ("one third", "0.33"), "2/3": ("two third", "0.67"),
}

NUMBER_UNIT = re.compile(
    r"(?<![\w/])(\d+(?:[.,]\d+)?(?:-\d+/\d+)?|\d+/\d+)\s*-?\s*("
    + "|".join(sorted((re.escape(u) for u in UNITS if u not in {"'", '"', "''"}), key=len, reverse=True))
    + r"|\"|'')(?![\w])",
    re.IGNORECASE,
)
DIMENSION = re.compile(r"\d+(?:[./-]\d+)*\s*(?:in\.?|ft\.?|\"|cm|mm)?\s*(?:x|by|×)\s*\d", re.IGNORECASE)
# model numbers / SKUs: a token mixing letters and digits (m12, a2-70, rz500, 2x4 excluded) of length >= 3
MODEL_NUMBER = re.compile(r"(?<![\w#])#?(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*(?![\w])", re.IGNORECASE)
_NOT_MODEL = re.compile(r"^(?:\d+(?:x\d+)+|\d+(?:st|nd|rd|th|s|d|pc|pk|ft|in|mm|cm|v|w|a|ah|oz|lb|lbs|gal|k|x|mil|ga|hp|cc|psi|gpm|btu)|[a-z]\d|\d[a-z])$", re.IGNORECASE)

# Synonym table: each row is a set of interchangeable surface forms (query side <-> catalogue side).
SYNONYMS: dict[str, list[list[str]]] = {
    "en": [
        ["faucet", "tap"], ["sofa", "couch"], ["rug", "carpet"], ["trash can", "garbage can", "waste bin"],
        ["light bulb", "bulb", "lamp"], ["drywall", "sheetrock", "gypsum board"], ["caulk", "sealant"],
        ["refrigerator", "fridge"], ["washer", "washing machine"], ["dryer", "clothes dryer"],
        ["lawn mower", "mower", "grass cutter"], ["weed eater", "string trimmer", "weed trimmer", "weed wacker"],
        ["toilet", "commode"], ["vanity", "bathroom cabinet"], ["wall plate", "switch plate", "cover plate"],
        ["screw", "fastener"], ["anchor", "wall plug"], ["shop vac", "wet dry vac", "wet/dry vacuum"],
        ["vacuum", "vac"], ["air conditioner", "ac", "a/c"], ["water heater", "hot water heater"],
        ["ceiling fan", "fan"], ["cordless drill", "drill driver"], ["circular saw", "skil saw"],
        ["hose", "garden hose"], ["grill", "bbq", "barbecue"], ["storage shed", "shed"],
        ["countertop", "counter top", "worktop"], ["backsplash", "back splash"], ["baseboard", "base molding"],
        ["moulding", "molding"], ["gutter", "rain gutter"], ["pavers", "paving stones"],
        ["mulch", "wood chips"], ["fertilizer", "plant food"], ["outlet", "receptacle", "socket"],
        ["light switch", "switch"], ["extension cord", "power cord"], ["power strip", "surge protector"],
        ["door knob", "doorknob", "door handle"], ["deadbolt", "door lock"], ["smoke detector", "smoke alarm"],
        ["thermostat", "temperature control"], ["sink", "basin"], ["bathtub", "tub", "bath tub"],
        ["shower head", "showerhead"], ["cabinet pull", "drawer pull", "handle"], ["blinds", "window blinds"],
        ["curtain rod", "drapery rod"], ["ladder", "step ladder"], ["wheelbarrow", "wheel barrow"],
        ["pressure washer", "power washer"], ["leaf blower", "blower"], ["chainsaw", "chain saw"],
        ["flashlight", "torch"], ["wrench", "spanner"], ["pliers", "plier"], ["utility knife", "box cutter"],
        ["tape measure", "measuring tape"], ["sandpaper", "sand paper"], ["paint brush", "paintbrush"],
        ["primer", "undercoat"], ["stain", "wood stain"], ["adhesive", "glue"], ["duct tape", "duck tape"],
        ["pvc pipe", "plastic pipe"], ["stainless steel", "stainless", "ss"], ["oil rubbed bronze", "orb"],
        ["brushed nickel", "satin nickel"], ["led", "led light"], ["vinyl plank", "lvp", "luxury vinyl"],
        ["mailbox", "mail box"], ["doormat", "door mat"], ["patio furniture", "outdoor furniture"],
    ],
    "de": [["wasserhahn", "armatur"], ["sofa", "couch"], ["teppich", "läufer"], ["kühlschrank", "eisschrank"],
           ["glühbirne", "leuchtmittel", "lampe"], ["bohrmaschine", "bohrer"], ["schraube", "befestiger"]],
    "fi": [["hana", "vesihana"], ["sohva", "sofa"], ["matto", "räsymatto"], ["jääkaappi", "kylmäkaappi"],
           ["lamppu", "polttimo"], ["porakone", "pora"], ["ruuvi", "kiinnitin"]],
}

# Keyboard neighbours for typo simulation (QWERTY; QWERTZ swaps y/z for German).
_QWERTY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard_neighbours(layout: str = "qwerty") -> dict[str, str]:
    """Map each letter/digit to the keys physically adjacent on a ``qwerty`` or ``qwertz`` keyboard."""
    rows = [r.translate(str.maketrans("yz", "zy")) if layout == "qwertz" else r for r in _QWERTY_ROWS]
    pos = {ch: (i, j) for i, row in enumerate(rows) for j, ch in enumerate(row)}
    out: dict[str, str] = {}
    for ch, (i, j) in pos.items():
        near = []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if (di or dj) and 0 <= i + di < len(rows):
                    row = rows[i + di]
                    # rows are staggered: up-right / down-left neighbours only
                    jj = j + dj
                    if 0 <= jj < len(row) and not (di == -1 and dj == -1) and not (di == 1 and dj == 1):
                        near.append(row[jj])
        out[ch] = "".join(near)
    return out


TOKEN = re.compile(r"[^\W_]+(?:[-'/.][^\W_]+)*\.?|\"", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens; keeps inner ``-`` ``/`` ``.`` ``'`` ("1/2", "a2-70", "men's", "in.")."""
    return [t for t in TOKEN.findall(str(text).lower())]


def content_tokens(text: str) -> list[str]:
    """:func:`tokenize` minus stop words, trailing dots stripped."""
    return [t.rstrip(".") for t in tokenize(text) if t.rstrip(".") and t.rstrip(".") not in STOPWORDS]


def model_numbers(text: str) -> list[str]:
    """Model-number / SKU-like tokens (letters and digits mixed, >= 3 chars, not a unit like ``12v``)."""
    out = []
    for m in MODEL_NUMBER.finditer(str(text)):
        tok = m.group(0).lstrip("#")
        if len(tok) >= 3 and not _NOT_MODEL.match(tok) and not NUMBER_UNIT.fullmatch(tok):
            out.append(tok)
    return out
