"""Deterministic query-level splits: train / dev / holdout.

Every query is assigned by a salted SHA-1 of its *normalised* text (:func:`text.normalize_query`),
so the assignment of a query never depends on which other queries are present, re-runs are
identical, and two spellings that normalise alike always share a split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd

from discovery_pipelines.data.text import normalize_query

SPLITS = ("train", "dev", "holdout")


def split_of(text: str, fractions: dict[str, float], salt: str = "discovery") -> str:
    """Split name for one query text.

    Args:
        text: raw query text (normalised inside).
        fractions: e.g. ``{"train": 0.7, "dev": 0.15, "holdout": 0.15}``; must sum to 1 (+-1e-6).
        salt: change to draw a different (still deterministic) split.

    Raises:
        ValueError: fractions do not sum to 1 or one is negative.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6 or any(v < 0 for v in fractions.values()):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    h = hashlib.sha1(f"{salt}\x00{normalize_query(text)}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    acc = 0.0
    for name, frac in fractions.items():
        acc += frac
        if u < acc:
            return name
    return list(fractions)[-1]


def assign_splits(queries: pd.DataFrame, fractions: dict[str, float], salt: str = "discovery") -> pd.DataFrame:
    """Return ``queries`` with a ``split`` column (str) from :func:`split_of` over ``text``."""
    out = queries.copy()
    out["split"] = out["text"].map(lambda t: split_of(t, fractions, salt))
    return out


def subset(queries: pd.DataFrame, qrels: pd.DataFrame, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Queries of one split and their qrels."""
    q = queries[queries["split"] == split].reset_index(drop=True)
    return q, qrels[qrels["query_id"].isin(set(q["query_id"]))].reset_index(drop=True)


def held_out_texts(queries: pd.DataFrame, splits: tuple[str, ...] = ("dev", "holdout")) -> set[str]:
    """Normalised texts (:func:`text.normalize_query`) of the queries in ``splits``: what no training
    row may contain, so that no evaluation query leaks into training."""
    return {normalize_query(t) for t, s in zip(queries["text"], queries["split"]) if s in splits}


def judged_and_sampled(products: pd.DataFrame, judged_ids: Iterable[str], n_others: int, seed: int = 0) -> pd.DataFrame:
    """Every product whose ``product_id`` is in ``judged_ids`` plus a seeded sample of ``n_others`` of the rest.

    The slice of a catalogue that still scores its judged queries fairly (all their judged products are in it)
    with realistic distractors: quick ingest runs (``ingest.max_products``), the in-training dev evaluator and
    recipe comparisons. Rows keep the catalogue's order; the index is reset. ``n_others`` is capped at the
    number of unjudged products (negative = 0).
    """
    judged = products["product_id"].isin(set(judged_ids))
    others = products[~judged]
    picked = others.sample(n=min(max(0, int(n_others)), len(others)), random_state=seed)
    return products[judged | products.index.isin(picked.index)].reset_index(drop=True)
