"""Rule taxonomy of product-search query phenomena ("failure groups").

Each rule looks at the query text only (plus the catalogue :class:`Vocabulary`) and says whether the
query carries a phenomenon known to hurt retrieval. A query may carry several; a query carrying none
is left to embedding clustering (:mod:`discovery_pipelines.failure_analysis.clustering`).

Groups (ids are stable: they key prompt templates, budgets and reports):

==================== =============================================================================
``misspelling``      a token off the catalogue vocabulary within edit distance 1-2 of a frequent one
``negation``         no / not / without / non-x / x-free / x-less / ``-term`` exclusion
``gender_age``       men's, women's, kids, baby, youth ...
``color``            a colour or finish word
``size_fit``         size words (small, king, xl, wide ...) or dimensions (``36 x 80``)
``numeric_unit``     a number with a unit (``1/2 in.``, ``20v``, ``5 gal``) or a bare measurement
``model_number``     a letters+digits token (``m12``, ``a2-70``, ``rz500``)
``brand``            a catalogue brand token (see :class:`Vocabulary.brands`)
``material``         a material word (steel, oak, pvc ...)
``multi_attribute``  >= 2 distinct attribute groups among colour, size, numeric, material, brand,
                     gender/age, model number
``occasion_intent``  use context or intent (outdoor, kitchen, christmas, gift, replacement ...)
``category_vocabulary`` broad category words (tools, lighting, accessories ...) or a content word
                     the catalogue never uses that is not a typo (vocabulary mismatch)
==================== =============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable

from discovery_pipelines.failure_analysis.lexicon import (
    CATEGORY_TERMS,
    COLORS,
    DIMENSION,
    GENDER_AGE,
    MATERIALS,
    NEGATIONS,
    NUMBER_UNIT,
    OCCASION_INTENT,
    SIZE_WORDS,
    STOPWORDS,
    model_numbers,
    tokenize,
)
from discovery_pipelines.failure_analysis.vocab import Vocabulary

RULE_GROUPS: tuple[str, ...] = (
    "misspelling", "negation", "gender_age", "color", "size_fit", "numeric_unit", "model_number",
    "brand", "material", "multi_attribute", "occasion_intent", "category_vocabulary",
)
ATTRIBUTE_GROUPS = ("color", "size_fit", "numeric_unit", "material", "brand", "gender_age", "model_number")
_LESS_NOT_NEGATION = {"stainless", "unless", "bless", "seamless", "endless", "timeless", "regardless", "less"}
_NEG_PATTERN = re.compile(r"(?:^|\s)(?:non-?\w+|\w+-free|-\w+)(?=\s|$)")
_BARE_NUMBER = re.compile(r"(?<![\w.])\d+(?:[./]\d+)?(?![\w])")


def _negation(toks: list[str], text: str) -> bool:
    if any(t in NEGATIONS for t in toks):
        return True
    if any(len(t) > 6 and t.endswith("less") and t not in _LESS_NOT_NEGATION for t in toks):
        return True
    return bool(_NEG_PATTERN.search(text))


def query_groups(text: str, vocab: Vocabulary | None = None) -> list[str]:
    """Rule groups of one query, in :data:`RULE_GROUPS` order.

    Args:
        text: raw query text.
        vocab: catalogue vocabulary; without it ``misspelling``, ``brand`` and the vocabulary-gap
            half of ``category_vocabulary`` are not detected.
    """
    low = str(text).lower()
    toks = tokenize(low)
    bare = [t.rstrip(".") for t in toks]
    found: set[str] = set()
    typos = vocab.misspellings(low) if vocab is not None else {}
    if typos:
        found.add("misspelling")
    if _negation(bare, low):
        found.add("negation")
    if any(t in GENDER_AGE for t in bare):
        found.add("gender_age")
    if any(t in COLORS for t in bare):
        found.add("color")
    if any(t in SIZE_WORDS for t in bare) or DIMENSION.search(low):
        found.add("size_fit")
    if NUMBER_UNIT.search(low) or (_BARE_NUMBER.search(low) and len(bare) > 1):
        found.add("numeric_unit")
    if model_numbers(low):
        found.add("model_number")
    if vocab is not None and vocab.brands_in(low):
        found.add("brand")
    if any(t in MATERIALS for t in bare):
        found.add("material")
    if sum(g in found for g in ATTRIBUTE_GROUPS) >= 2:
        found.add("multi_attribute")
    if any(t in OCCASION_INTENT for t in bare) or re.search(r"\bfor (?:a |the )?\w+", low):
        found.add("occasion_intent")
    content = [t for t in bare if t not in STOPWORDS]
    n_broad = sum(t in CATEGORY_TERMS for t in content)
    broad = n_broad > 0 and 2 * n_broad >= len(content) and len(content) <= 3
    gap = vocab is not None and any(
        t.isalpha() and len(t) >= 3 and t not in vocab and t not in typos for t in content
    )
    if broad or gap:
        found.add("category_vocabulary")
    return [g for g in RULE_GROUPS if g in found]


def title_groups(title: str, vocab: Vocabulary | None = None) -> list[str]:
    """Groups a *product title* can seed: the attribute, negation and occasion rules of
    :func:`query_groups` (no misspelling / category-vocabulary: titles are the vocabulary)."""
    return [g for g in query_groups(title, vocab) if g not in {"misspelling", "category_vocabulary"}]


DETECTORS: dict[str, Callable[[str, Vocabulary | None], bool]] = {
    g: (lambda text, vocab, _g=g: _g in query_groups(text, vocab)) for g in RULE_GROUPS
}
