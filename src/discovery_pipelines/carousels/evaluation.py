"""Evaluation of carousels: precision@k against the hand-labelled relevance set, personal hit-rate@k
against each user's held-out next basket (vs a popularity carousel), title diversity and topic balance,
and the jury figures (see :func:`discovery_pipelines.carousels.jury.jury_figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def precision_at_k(retrieved: Sequence[Sequence[str]], item_category: Mapping[str, str],
                   relevant: Sequence[Sequence[str]], k: int = 10) -> np.ndarray:
    """Per title: share of its top-``k`` items whose category is in the title's labelled categories.

    Fewer than ``k`` items count as misses (the denominator is always ``k``; precision@k as in
    Manning et al., *Introduction to Information Retrieval*, 2008, sec. 8.4).
    """
    out = []
    for items, rel in zip(retrieved, relevant):
        rs = set(rel)
        out.append(sum(item_category.get(str(i)) in rs for i in list(items)[:k]) / k)
    return np.asarray(out, dtype=np.float64)


def hit_at_k(items: Sequence[str], basket: set[str], k: int = 10) -> float:
    """1.0 when any of the first ``k`` items is in the basket (hit-rate@k of one list)."""
    return float(any(str(i) in basket for i in list(items)[:k]))


def popularity_list(history: pd.DataFrame, k: int, exclude: set[str] | None = None) -> list[str]:
    """The ``k`` most bought products of the history (the non-personal popularity carousel)."""
    vc = history["product_id"].astype(str).value_counts()
    if exclude:
        vc = vc[~vc.index.isin(exclude)]
    return vc.index[:k].tolist()


def diversity_stats(title_emb_by_user: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Max and mean pairwise cosine between a user's titles (lower = more diverse), over users."""
    mx, mean = [], []
    for e in title_emb_by_user.values():
        if len(e) < 2:
            continue
        c = e @ e.T
        iu = np.triu_indices(len(e), 1)
        mx.append(float(c[iu].max()))
        mean.append(float(c[iu].mean()))
    return {"users": len(mx), "max_pairwise_cosine_mean": float(np.mean(mx)) if mx else None,
            "max_pairwise_cosine_p95": float(np.percentile(mx, 95)) if mx else None,
            "mean_pairwise_cosine": float(np.mean(mean)) if mean else None}


def balance_stats(topic_sizes: Sequence[int], min_items: int, max_items: int) -> dict[str, Any]:
    """Distribution of catalogue items matched per carousel and the share inside the bounds."""
    s = np.asarray(topic_sizes, dtype=np.float64)
    if not len(s):
        return {"carousels": 0}
    return {"carousels": int(len(s)), "min": int(s.min()), "p50": float(np.median(s)), "max": int(s.max()),
            "share_within_bounds": float(((s >= min_items) & (s <= max_items)).mean()),
            "bounds": [int(min_items), int(max_items)]}
