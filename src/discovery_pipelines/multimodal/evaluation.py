"""Listing retrieval and categorisation figures with the project's metrics (:mod:`search.metrics`).

Systems, all ranking the whole test catalogue with exact inner product (:func:`search.retrieval.dense_search`):

* ``text_only``: the project's text model on both sides (query vs the listing's title and description);
  listings without a title cannot be retrieved by it (masked out);
* ``image_only``: the query tower vs the bare photo vectors;
* ``image_inferred_text``: the query tower vs photo + photo-inferred text vectors (:mod:`multimodal.enrichment`),
  for every listing: how a catalogue without any titles is served;
* ``fused``: the query tower vs the served product vectors (photo + title; photo + inferred text when blank).

Differences are paired bootstrap intervals over the dev queries (:func:`search.metrics.paired_bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search import metrics as M
from discovery_pipelines.search.retrieval import dense_search

COMPARISONS = (("fused", "text_only"), ("fused", "image_only"), ("image_only", "text_only"),
               ("image_inferred_text", "image_only"))


def dense_run(query_ids: Sequence[str], query_vecs: np.ndarray, doc_vecs: np.ndarray, doc_ids: Sequence[str],
              mask: np.ndarray | None = None, k: int = 100) -> dict[str, list[str]]:
    """``{query_id: [product_id, ...]}`` top-``k`` by inner product; masked products never appear."""
    ids, _ = dense_search(query_vecs, doc_vecs, list(doc_ids), k=k, mask=mask)
    return {q: [p for p in row if p is not None] for q, row in zip(query_ids, ids)}


def score_systems(runs: Mapping[str, Mapping[str, Sequence[str]]], qrels: pd.DataFrame, *, rel_threshold: float = 2.0,
                  n_bootstrap: int = 2000, seed: int = 0,
                  comparisons: Sequence[tuple[str, str]] = COMPARISONS) -> tuple[dict[str, Any], pd.DataFrame]:
    """Per-system means (nDCG@10, Recall@10, Recall@100, MRR@10, P@10) and paired bootstrap CIs.

    Returns:
        ``(metrics, per_query)``: ``metrics[system]`` = aggregate dict, ``metrics["diff"]["a-b"]`` =
        ``{"ndcg@10": ci, "recall@10": ci}``; ``per_query`` rows (system, query_id, metrics...).
    """
    out: dict[str, Any] = {}
    frames = []
    for name, run in runs.items():
        pq = M.score_run(run, qrels, rel_threshold=rel_threshold)
        pq["recall@10"] = pq["query_id"].map(M.recall_at(run, qrels, 10, rel_threshold)).astype(float)
        agg = M.aggregate(pq)
        agg["recall@10"] = float(np.nanmean(pq["recall@10"])) if len(pq) else 0.0
        out[name] = agg
        frames.append(pq.assign(system=name))
    per_query = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    diffs = {}
    for a, b in comparisons:
        if a in runs and b in runs:
            pa = per_query[per_query["system"] == a].set_index("query_id")
            pb = per_query[per_query["system"] == b].set_index("query_id").loc[pa.index]
            diffs[f"{a}-{b}"] = {m: M.paired_bootstrap_ci(pa[m].to_numpy(), pb[m].to_numpy(), n_resamples=n_bootstrap,
                                                          seed=seed) for m in ("ndcg@10", "recall@10")}
    out["diff"] = diffs
    return out, per_query


def restrict_qrels(qrels: pd.DataFrame, product_ids: Sequence[str]) -> pd.DataFrame:
    """``qrels`` rows whose product is in ``product_ids`` (queries left without a judged product drop out)."""
    keep = set(map(str, product_ids))
    return qrels[qrels["product_id"].astype(str).isin(keep)].reset_index(drop=True)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Row-normalised ``(n, n)`` confusion matrix (rows: true class, columns: predicted)."""
    m = np.zeros((n, n), dtype=np.float64)
    np.add.at(m, (y_true, y_pred), 1.0)
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
