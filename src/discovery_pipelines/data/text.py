"""Query text normalisation shared by splits, log mining, leakage checks and evaluation."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")


def normalize_query(text: str | None) -> str:
    """Normalise a search query for grouping and de-duplication.

    NFKC-folds, lower-cases, and collapses runs of whitespace; punctuation is kept because it is
    meaningful in product search ("1/2 in.", "m12", "a2-70"). ``None`` becomes ``""``.

    This is the key used for query-level splits (the Home Depot hold-out was cut on the same key:
    lower-cased, whitespace-collapsed), so no normalised query can fall into two splits.
    """
    if text is None:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", str(text)).lower()).strip()
