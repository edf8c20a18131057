"""Block re-ranking (stage 5; seed 004): candidates ordered by an engagement score R are cut into blocks
of ``K``; within each block they are reordered by

    FinalScore(s) = R(s)^alpha * S(s)^beta

with S the similarity of the item to the carousel. Items therefore move only within their block: the
engagement order is kept at block granularity while relevance decides inside it. ``alpha = 0`` orders
blocks by similarity alone, ``beta = 0`` keeps the engagement order.

Engagement scores from the histories: ``popularity`` (item's share of all history lines, scaled to (0, 1])
or ``personal`` (``w`` * the user's own purchase count of the item / the user's max + (1 - ``w``) * popularity,
``w = personal_weight``, default 0.8: repeat buys dominate grocery baskets),
floored at ``1e-6`` so the power is defined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-6


def similarity_to_unit(s: np.ndarray) -> np.ndarray:
    """Cosine in [-1, 1] -> (0, 1]: ``clip(s, EPS, 1)`` (negative similarity is "not similar")."""
    return np.clip(np.asarray(s, dtype=np.float64), EPS, 1.0)


def block_rerank(engagement: np.ndarray, similarity: np.ndarray, alpha: float = 1.0, beta: float = 1.0,
                 block_size: int = 5) -> np.ndarray:
    """Order (indices into the inputs) after block re-ranking (see module doc).

    Args:
        engagement: R per candidate, > 0 (any scale); similarity: S per candidate in (0, 1].
        block_size: K >= 1.

    Raises:
        ValueError: length mismatch, ``block_size < 1`` or negative exponents.
    """
    r = np.asarray(engagement, dtype=np.float64)
    s = np.asarray(similarity, dtype=np.float64)
    if r.shape != s.shape:
        raise ValueError(f"engagement and similarity differ in length ({r.shape} vs {s.shape})")
    if block_size < 1 or alpha < 0 or beta < 0:
        raise ValueError(f"need block_size >= 1, alpha >= 0, beta >= 0 (got {block_size}, {alpha}, {beta})")
    base = np.lexsort((np.arange(len(r)), -r))  # engagement order, stable
    final = np.power(np.maximum(r, EPS), alpha) * np.power(np.maximum(s, EPS), beta)
    out = []
    for start in range(0, len(base), block_size):
        blk = base[start:start + block_size]
        out.extend(blk[np.lexsort((np.arange(len(blk)), -final[blk]))])
    return np.asarray(out, dtype=np.int64)


def engagement_tables(history: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """``(popularity, user_counts)``: popularity per product_id in (0, 1] (count / max count) and a
    ``user_id, product_id, n`` table of each user's own line counts."""
    pop = history["product_id"].astype(str).value_counts()
    pop = pop / pop.max()
    uc = history.groupby(["user_id", "product_id"]).size().rename("n").reset_index()
    uc["user_id"] = uc["user_id"].astype(str)
    uc["product_id"] = uc["product_id"].astype(str)
    return pop, uc


def engagement_scores(user_id: str, product_ids: list[str], popularity: pd.Series,
                      user_counts: dict[str, int], kind: str = "personal", personal_weight: float = 0.8) -> np.ndarray:
    """R for a user's candidates (``kind`` popularity | personal, see module doc), floored at EPS.

    Raises:
        ValueError: unknown ``kind``.
    """
    p = popularity.reindex(product_ids).fillna(0.0).to_numpy(dtype=np.float64)
    if kind == "popularity":
        return np.maximum(p, EPS)
    if kind != "personal":
        raise ValueError(f"engagement must be 'popularity' or 'personal', got {kind!r}")
    u = np.array([user_counts.get(pid, 0) for pid in product_ids], dtype=np.float64)
    u = u / u.max() if u.max() > 0 else u
    return np.maximum(personal_weight * u + (1 - personal_weight) * p, EPS)
