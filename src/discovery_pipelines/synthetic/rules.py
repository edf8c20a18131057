"""Offline, deterministic query generation from catalogue titles (the default generator).

For each request (one product, one failure group) it writes up to ``n`` short keyword queries of
the kind the group names, from the title's head phrase and attributes:

* misspelling: one keyboard-adjacent substitution, deletion, transposition or doubled letter
  (the four Damerau 1964 edit types; keyboard adjacency as in typo simulators of query-noise
  studies, e.g. Sidiropoulos & Kanoulas, SIGIR 2022 "Analysing the robustness of dual encoders
  for dense retrieval against misspellings");
* negation: "cordless drill" -> "drill without cord", "lead-free" -> "no lead ...";
* unit variants: "1/2 in." <-> "half inch" <-> "0.5 in" <-> '1/2"'; "gal." <-> "gallon";
* synonyms from :data:`lexicon.SYNONYMS`; attribute recombination (colour, size, material, brand);
  model numbers with and without hyphens.

The RNG is seeded from the request id, so the same request always yields the same queries.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable

import pandas as pd

from discovery_pipelines.failure_analysis.lexicon import (
    COLORS,
    DIMENSION,
    FRACTION_WORDS,
    GENDER_AGE,
    MATERIALS,
    NUMBER_UNIT,
    OCCASION_INTENT,
    SIZE_WORDS,
    STOPWORDS,
    SYNONYMS,
    UNIT_FORMS,
    UNITS,
    keyboard_neighbours,
    model_numbers,
    tokenize,
)
from discovery_pipelines.synthetic.schema import PAIR_COLUMNS, GenerationRequest

TEMPLATE_VERSION = "rules.v1"
_CUT = re.compile(r"\s+(?:with|in|for|featuring|includes?|-)\s+|[,(;]|\s-\s", re.IGNORECASE)
_GENDER_FORMS = {
    "men": ["mens", "for men", "men's"], "women": ["womens", "for women", "ladies"],
    "kids": ["kids", "for kids", "children's"], "baby": ["baby", "infant"], "youth": ["youth", "junior"],
}
_COLOR_SYNONYMS = {"gray": "grey", "grey": "gray", "chrome": "polished chrome", "nickel": "brushed nickel",
                   "bronze": "oil rubbed bronze", "white": "bright white", "black": "matte black"}


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha1(key.encode()).hexdigest()[:12], 16))


def _norm_gender(tok: str) -> str | None:
    t = tok.replace("'", "").rstrip("s")
    for k in ("women", "men", "kid", "baby", "youth", "girl", "boy", "child"):
        if t.startswith(k):
            return {"kid": "kids", "girl": "kids", "boy": "kids", "child": "kids"}.get(k, k)
    return None


class TitleParts:
    """Head phrase, brand and attributes parsed from one title (lower-case strings)."""

    def __init__(self, title: str, brands: Iterable[str] = ()) -> None:
        self.title = str(title)
        low = self.title.lower()
        toks = tokenize(low)
        brands = set(brands)
        self.brand = toks[0] if toks and toks[0] in brands else None
        seg = _CUT.split(re.sub(r"\([^)]*\)", " ", low))[0]
        words = [t.rstrip(".") for t in tokenize(seg)]
        content = [w for w in words if w.isalpha() and w not in STOPWORDS and w not in COLORS
                   and w != self.brand and w not in UNITS and w not in SIZE_WORDS]
        if not content:
            content = [w for w in (t.rstrip(".") for t in toks) if w.isalpha() and w not in STOPWORDS
                       and w != self.brand] or ["item"]
        self.head = " ".join(content[-2:])
        self.phrase = " ".join(content[-4:])
        self.modifiers = [w for w in content[:-2] if w not in MATERIALS][-2:]
        bare = [t.rstrip(".") for t in toks]
        self.colors = [t for t in bare if t in COLORS]
        self.materials = [t for t in bare if t in MATERIALS and t not in self.head.split()]
        self.sizes = [t for t in bare if t in SIZE_WORDS]
        self.genders = [g for g in (_norm_gender(t) for t in bare if t in GENDER_AGE) if g]
        self.occasions = [t for t in bare if t in OCCASION_INTENT and t not in self.head.split()]
        self.units = [(m.group(1), m.group(2)) for m in NUMBER_UNIT.finditer(self.title)]
        dim = DIMENSION.search(self.title)
        self.dimension = dim is not None
        self.dims = re.findall(r"(\d+(?:[./-]\d+)*)\s*(?:in\.?|ft\.?|\"|cm|mm)?\s*(?:x|×)\s*(\d+(?:[./-]\d+)*)",
                               self.title, flags=re.IGNORECASE)
        self.models = model_numbers(self.title)
        self.negations = self._negations(bare)

    @staticmethod
    def _negations(bare: list[str]) -> list[tuple[str, str]]:
        out = []
        for t in bare:
            if t.startswith("non-") and len(t) > 5:
                out.append((t, t[4:]))
            elif t.endswith("-free") and len(t) > 6:
                out.append((t, t[:-5]))
            elif t.endswith("less") and len(t) > 6 and t not in {"stainless", "seamless", "endless", "timeless"}:
                out.append((t, t[:-4]))
        return out


def unit_variants(number: str, unit: str) -> list[str]:
    """Other ways to write ``number unit``: ``("1/2", "in.")`` -> ``["half inch", "0.5 in", '1/2"', ...]``."""
    canon = UNITS.get(unit.lower(), UNITS.get(unit.lower().rstrip("."), unit.lower()))
    forms = UNIT_FORMS.get(canon, (unit, canon))
    nums = [number]
    out = []
    if number in FRACTION_WORDS:
        word, dec = FRACTION_WORDS[number]
        out.append(f"{word} {canon}")
        nums.append(dec)
    elif re.fullmatch(r"\d+\.0+", number):
        nums.append(number.split(".")[0])
    for n in nums:
        for f in forms:
            if f.startswith("-"):
                out.append(f"{n}{f.lower()}")
            elif f.startswith(" "):
                out.append(f"{n}{f}")
            elif f in {'"', "v", "w"}:
                out.append(f"{n}{f}")
            else:
                out.append(f"{n} {f}")
    orig = f"{number} {unit}".lower()
    return [v for v in dict.fromkeys(out) if v.lower() != orig]


def typo(word: str, rng: random.Random, layout: str = "qwerty") -> str:
    """One Damerau edit of ``word`` (substitution by a keyboard neighbour, deletion, transposition,
    or doubling), never at the first letter; returns ``word`` unchanged when shorter than 4."""
    if len(word) < 4:
        return word
    nb = keyboard_neighbours(layout)
    for _ in range(8):
        i = rng.randrange(1, len(word))
        kind = rng.choice(("sub", "del", "swap", "dup"))
        if kind == "sub" and nb.get(word[i]):
            out = word[:i] + rng.choice(nb[word[i]]) + word[i + 1:]
        elif kind == "del":
            out = word[:i] + word[i + 1:]
        elif kind == "swap" and i < len(word) - 1 and word[i] != word[i + 1]:
            out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind == "dup":
            out = word[:i] + word[i] + word[i:]
        else:
            continue
        if out != word:
            return out
    return word[:-1]


def _synonym_swaps(text: str, language: str) -> list[str]:
    out = []
    low = f" {text.lower()} "
    for row in SYNONYMS.get(language, []):
        for form in row:
            if f" {form} " in low:
                for other in row:
                    if other != form:
                        out.append(low.replace(f" {form} ", f" {other} ", 1).strip())
                break
    return out


class RulesGenerator:
    """Deterministic offline generator (see module doc). ``brands``: catalogue brand tokens
    (e.g. :attr:`Vocabulary.brands`), used to spot and re-use the brand in titles."""

    name = "rules"

    def __init__(self, brands: Iterable[str] = (), layout_by_language: dict[str, str] | None = None) -> None:
        self.brands = frozenset(b.lower() for b in brands)
        self.layouts = {"de": "qwertz", **(layout_by_language or {})}
        self.stats: dict[str, int] = {"requests": 0, "empty_requests": 0, "pairs": 0}

    def candidates(self, p: TitleParts, group: str, language: str, rng: random.Random) -> list[str]:
        """All queries the rules can write for ``group`` from title parts ``p`` (may be empty)."""
        h = p.head
        mod = " ".join(p.modifiers[-1:])
        base = f"{mod} {h}".strip()
        g = group
        c: list[str] = []
        if g == "misspelling":
            for src in (base, f"{p.brand} {h}" if p.brand else base, h):
                words = src.split()
                idx = max(range(len(words)), key=lambda i: len(words[i]))
                c.append(" ".join(words[:idx] + [typo(words[idx], rng, self.layouts.get(language, "qwerty"))]
                                  + words[idx + 1:]))
        elif g == "negation":
            for tok, stem in p.negations:
                c += [f"{h} without {stem}", f"no {stem} {h}", f"{stem} free {h}" if tok.endswith("-free")
                      else f"{h} with no {stem}"]
        elif g == "gender_age":
            for gen in dict.fromkeys(p.genders):
                forms = _GENDER_FORMS.get(gen, [gen])
                c += [f"{forms[0]} {h}", f"{h} {forms[1 % len(forms)]}", f"{forms[-1]} {base}"]
        elif g == "color":
            for col in dict.fromkeys(p.colors):
                c += [f"{col} {h}", f"{h} {col}"]
                if col in _COLOR_SYNONYMS:
                    c.append(f"{_COLOR_SYNONYMS[col]} {h}")
        elif g == "size_fit":
            for a, b in p.dims[:2]:
                c += [f"{a}x{b} {h}", f"{a} by {b} {h}", f"{h} {a} x {b}"]
            for s in p.sizes:
                c.append(f"{s} {h}")
        elif g == "numeric_unit":
            for num, unit in p.units[:3]:
                vs = unit_variants(num, unit)
                rng.shuffle(vs)
                c += [f"{v} {h}" for v in vs[:3]]
        elif g == "model_number":
            for m in p.models[:2]:
                ml = m.lower()
                c += [f"{p.brand} {ml}" if p.brand else f"{ml} {h}", f"{ml.replace('-', '')} {h}", ml]
        elif g == "brand":
            if p.brand:
                c += [f"{p.brand} {h}", f"{p.brand} {base}", f"{h} {p.brand}"]
        elif g == "material":
            for m in dict.fromkeys(p.materials):
                c += [f"{m} {h}", f"{h} {m}"]
                c += _synonym_swaps(f"{m} {h}", language)
        elif g == "multi_attribute":
            uv = unit_variants(*p.units[0]) if p.units else []
            attrs = list(dict.fromkeys(p.colors[:1] + p.materials[:1] + uv[:1] + ([p.brand] if p.brand else [])))
            if len(attrs) >= 2:
                for _ in range(3):
                    pick = rng.sample(attrs, k=min(len(attrs), rng.choice((2, 3))))
                    c.append(" ".join(pick + [h]))
        elif g == "occasion_intent":
            for o in dict.fromkeys(p.occasions):
                c += [f"{o} {h}", f"{h} for {o}"]
            if "replacement" not in h:
                c.append(f"replacement {h}")
        elif g == "category_vocabulary":
            c += _synonym_swaps(p.phrase, language)[:3]
            if not c:
                c.append(h if h.endswith("s") else h + "s")
        else:  # cluster groups and anything unnamed: keyword query with synonym variation
            c += [base, *(_synonym_swaps(base, language)[:2])]
            if p.brand:
                c.append(f"{p.brand} {h}")
        title_low = " ".join(p.title.lower().split())
        out = []
        for q in c:
            q = " ".join(q.split())
            words = [re.sub(r"(?:'s|s)$", "", w) for w in q.split() if w.isalpha()]
            if q and q != title_low and len(q) >= 3 and len(set(words)) == len(words):  # no "men for men"
                out.append(q)
        return list(dict.fromkeys(out))

    def generate(self, requests: list[GenerationRequest]) -> pd.DataFrame:
        """Pairs for ``requests`` (columns :data:`schema.PAIR_COLUMNS`); requests whose product
        cannot express the group yield no row."""
        rows = []
        for r in requests:
            self.stats["requests"] += 1
            rng = _rng(r.request_id)
            cands = self.candidates(TitleParts(r.title, self.brands), r.group, r.language, rng)
            if not cands:
                self.stats["empty_requests"] += 1
                continue
            rng.shuffle(cands)
            for q in cands[: r.n]:
                rows.append((q, r.product_id, r.group, r.language, "synthetic", self.name, TEMPLATE_VERSION,
                             r.request_id))
        self.stats["pairs"] += len(rows)
        return pd.DataFrame(rows, columns=PAIR_COLUMNS)
