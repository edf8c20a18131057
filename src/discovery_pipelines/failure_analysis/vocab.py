"""Catalogue vocabulary, misspelling detection and brand spotting built from product titles.

Misspelling rule (a noisy-channel-free variant of the classic dictionary + edit-distance spell
checker, Damerau 1964 / Norvig 2007): a query token is *misspelt* when it is alphabetic, at least
``min_len`` characters, absent from the catalogue vocabulary, and within Levenshtein distance 1
(tokens of <= 5 chars) or 2 (longer tokens) of a *frequent* vocabulary token (count >= ``min_count``).
The search uses ``rapidfuzz.process.extractOne`` with ``Levenshtein.distance`` and a score cut-off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from discovery_pipelines.failure_analysis.lexicon import COLORS, MATERIALS, STOPWORDS, tokenize


@dataclass
class Vocabulary:
    """Token counts over catalogue titles plus derived lookups.

    Attributes:
        counts: token -> number of titles containing it (document frequency).
        frequent: tokens with count >= ``min_count``, alphabetic, sorted (the spelling dictionary).
        brands: tokens that open >= ``brand_min`` titles and open at least half of the titles they
            occur in (Home Depot titles start with the brand; no brand column there).
    """

    counts: Counter
    min_count: int = 3
    frequent: list[str] = field(default_factory=list)
    brands: frozenset[str] = frozenset()

    @classmethod
    def from_titles(cls, titles: Iterable[str], *, min_count: int = 3, brand_min: int = 5,
                    brand_share: float = 0.5, extra_brands: Iterable[str] = ()) -> Vocabulary:
        """Build from an iterable of product titles (str). ``extra_brands``: e.g. a ``brand`` column."""
        df: Counter = Counter()
        first: Counter = Counter()
        for title in titles:
            toks = tokenize(title)
            df.update(set(toks))
            if toks:
                first[toks[0]] += 1
        frequent = sorted(t for t, c in df.items() if c >= min_count and t.isalpha())
        brands = {
            t for t, c in first.items()
            if c >= brand_min and c / df[t] >= brand_share and t.isalpha() and len(t) > 2
            and t not in STOPWORDS and t not in COLORS and t not in MATERIALS
        }
        brands |= {b.lower() for b in extra_brands if b and str(b).strip()}
        return cls(df, min_count, frequent, frozenset(brands))

    def __contains__(self, token: str) -> bool:
        return token in self.counts

    def correction(self, token: str) -> str | None:
        """The closest frequent vocabulary token when ``token`` looks misspelt, else ``None``.

        Returns ``None`` for tokens in the vocabulary, non-alphabetic tokens and tokens shorter than
        4 characters (too many near neighbours to call them typos).
        """
        if token in self.counts or not token.isalpha() or len(token) < 4 or not self.frequent:
            return None
        # inflections of known words are not typos (masks/mask, boxes/box, light/lights)
        if any(v in self.counts for v in (token[:-1], token[:-2], token + "s", token + "es")):
            return None
        max_d = 1 if len(token) <= 5 else 2
        hit = process.extractOne(token, self.frequent, scorer=Levenshtein.distance, score_cutoff=max_d)
        return None if hit is None else hit[0]

    def misspellings(self, text: str) -> dict[str, str]:
        """``{misspelt token: correction}`` for one query text."""
        out = {}
        for tok in tokenize(text):
            c = self.correction(tok)
            if c is not None:
                out[tok] = c
        return out

    def brands_in(self, text: str) -> list[str]:
        """Brand tokens occurring in ``text``."""
        return [t for t in tokenize(text) if t in self.brands]
