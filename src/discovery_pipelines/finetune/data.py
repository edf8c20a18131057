"""Assemble (query, product) training pairs from qrels, mined search logs and synthetic generation.

Every pair keeps its provenance (``source`` in qrels / log / synthetic plus source-specific columns),
pairs are de-duplicated on (normalised query, product_id) with the first source in ``priority`` winning,
and no pair whose normalised query belongs to the dev or holdout split survives (no leakage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.data.splits import held_out_texts
from discovery_pipelines.data.text import normalize_query

PAIR_COLUMNS = ["query", "query_norm", "product_id", "positive", "source", "group", "weight"]


def _frame(df: pd.DataFrame, query_col: str, source: str, group: Any = None) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "query": df[query_col].astype(str).values,
            "product_id": df["product_id"].astype(str).values,
            "source": source,
            "group": df["group"].astype(str).values if "group" in df else group,
        }
    )
    return out


def assemble_pairs(
    products: pd.DataFrame,
    queries: pd.DataFrame,
    qrels: pd.DataFrame,
    mined_positives: pd.DataFrame | None,
    synthetic_pairs: pd.DataFrame | None,
    *,
    qrels_min_gain: float = 2.5,
    caps: Mapping[str, int | None] | None = None,
    priority: Sequence[str] = ("qrels", "log", "synthetic"),
    max_pairs: int | None = None,
    seed: int = 13,
    qrels_sampling: str = "random",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Training pairs with provenance.

    Args:
        products: contract products (``title`` becomes ``positive``).
        queries: contract queries with ``split``; only ``train`` queries feed qrels pairs, and every
            pair whose normalised query is a dev/holdout query is dropped.
        qrels: contract qrels; pairs with ``gain >= qrels_min_gain``.
        mined_positives: log-mined positives (columns query, product_id, ...), or None.
        synthetic_pairs: generated pairs (query, product_id, group, ...), or None.
        caps: max pairs per source (None = all), applied after de-duplication with a seeded shuffle.
        max_pairs: overall cap after caps (seeded sample, stratified by nothing).
        qrels_sampling: which qrels pairs a cap keeps. ``random``: a seeded uniform sample (a query
            with many judged products gets many pairs). ``round_robin``: every query's best-judged
            product first (highest gain, ties at random), then every query's second best, and so on,
            so a budget covers as many distinct queries as it can before it repeats one.

    Returns:
        (pairs DataFrame with :data:`PAIR_COLUMNS`, stats dict with counts per source and drops).

    Raises:
        ValueError: unknown ``qrels_sampling``.
    """
    if qrels_sampling not in ("random", "round_robin"):
        raise ValueError(f"qrels_sampling must be 'random' or 'round_robin', got {qrels_sampling!r}")
    caps = dict(caps or {})
    stats: dict[str, Any] = {"in": {}, "dropped_leakage": {}, "dropped_unknown_product": {}, "kept": {}}
    split_of = dict(zip(queries["query_id"], queries["split"]))
    text_of = dict(zip(queries["query_id"], queries["text"]))
    frames = []
    q = qrels[(qrels["gain"] >= qrels_min_gain) & (qrels["query_id"].map(split_of) == "train")]
    qf = _frame(q.assign(query=q["query_id"].map(text_of)), "query", "qrels", "qrels")
    # rank of the pair within its query: 0 = highest gain (ties broken at random); used by round_robin
    tie = np.random.default_rng(seed + 1).random(len(q))
    qf["_rank"] = (pd.DataFrame({"q": q["query_id"].values, "g": -q["gain"].values, "t": tie})
                   .sort_values(["q", "g", "t"]).groupby("q").cumcount().sort_index().values)
    frames.append(qf)
    if mined_positives is not None and len(mined_positives):
        frames.append(_frame(mined_positives, "query", "log", "log"))
    if synthetic_pairs is not None and len(synthetic_pairs):
        sp = synthetic_pairs
        if "accepted" in sp:
            sp = sp[sp["accepted"].astype(bool)]
        frames.append(_frame(sp, "query", "synthetic", "synthetic"))
    pairs = pd.concat(frames, ignore_index=True)
    pairs["query_norm"] = pairs["query"].map(normalize_query)
    for s, n in pairs["source"].value_counts().items():
        stats["in"][s] = int(n)

    held_out = held_out_texts(queries)
    leak = pairs["query_norm"].isin(held_out) | (pairs["query_norm"] == "")
    stats["dropped_leakage"] = {str(k): int(v) for k, v in pairs[leak]["source"].value_counts().items()}
    pairs = pairs[~leak]
    title = dict(zip(products["product_id"].astype(str), products["title"]))
    unknown = ~pairs["product_id"].isin(title.keys())
    stats["dropped_unknown_product"] = {str(k): int(v) for k, v in pairs[unknown]["source"].value_counts().items()}
    pairs = pairs[~unknown].copy()
    pairs["positive"] = pairs["product_id"].map(title)
    order = {s: i for i, s in enumerate(priority)}
    pairs["_p"] = pairs["source"].map(order).fillna(len(order))
    pairs = pairs.sort_values(["_p"], kind="stable").drop_duplicates(["query_norm", "product_id"])
    rng = np.random.default_rng(seed)
    kept = []
    for s, g in pairs.groupby("source", sort=False):
        g = g.iloc[rng.permutation(len(g))]
        if s == "qrels" and qrels_sampling == "round_robin":
            g = g.sort_values("_rank", kind="stable")
        cap = caps.get(str(s))
        kept.append(g if cap is None else g.head(int(cap)))
    pairs = pd.concat(kept, ignore_index=True) if kept else pairs.iloc[:0]
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = pairs.iloc[rng.permutation(len(pairs))[: int(max_pairs)]]
    pairs = pairs.iloc[rng.permutation(len(pairs))].reset_index(drop=True)
    pairs["weight"] = 1.0
    stats["kept"] = {str(k): int(v) for k, v in pairs["source"].value_counts().items()}
    stats["n_pairs"] = int(len(pairs))
    stats["n_queries"] = int(pairs["query_norm"].nunique())
    return pairs[PAIR_COLUMNS].reset_index(drop=True), stats


def known_positives(qrels: pd.DataFrame, queries: pd.DataFrame, pairs: pd.DataFrame,
                    min_gain: float) -> dict[str, set[str]]:
    """``{normalised query: {product_id}}`` that must never be used as negatives: every training
    pair's product plus every judged product with ``gain >= min_gain``."""
    text_of = dict(zip(queries["query_id"], queries["text"]))
    out: dict[str, set[str]] = {}
    for qn, pid in zip(pairs["query_norm"], pairs["product_id"]):
        out.setdefault(qn, set()).add(str(pid))
    rel = qrels[qrels["gain"] >= min_gain]
    for qid, pid in zip(rel["query_id"], rel["product_id"]):
        t = text_of.get(qid)
        if t is not None:
            out.setdefault(normalize_query(t), set()).add(str(pid))
    return out
