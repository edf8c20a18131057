"""Full-catalogue retrieval evaluation, usable without Kedro.

>>> from discovery_pipelines.search.evaluation import evaluate
>>> res = evaluate("all-MiniLM-L6-v2", products, queries, qrels)   # contract DataFrames
>>> res.metrics["hybrid"]["ndcg@10"]

Every retriever ranks the *whole* catalogue (no re-ranking of judged candidates only), so figures are
comparable with production behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from discovery_pipelines.search import metrics as M
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR, encode, product_texts
from discovery_pipelines.search.models import load_model, model_fingerprint
from discovery_pipelines.search.retrieval import BM25Retriever, Run, dense_search, rrf, run_to_dict

DEFAULT_GOOD_RULE: list[dict[str, Any]] = [{"metric": "ndcg@10", "op": ">=", "value": 0.5}]
RETRIEVERS = ("bm25", "dense", "hybrid")


@dataclass
class EvaluationResult:
    """``metrics``: ``{retriever: {metric: value}}``; ``per_query``: one row per (retriever, query)
    with the metrics, ``verdict`` and the query text; ``runs``: ``{retriever: (ids, scores)}``;
    ``timings``: seconds per stage."""

    metrics: dict[str, dict[str, float]]
    per_query: pd.DataFrame
    runs: dict[str, Run] = field(repr=False, default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def dense_run(
    model: Any,
    products: pd.DataFrame,
    queries: pd.DataFrame,
    *,
    k: int = 100,
    text_fields: Sequence[str] = ("title",),
    cache_dir: Any = DEFAULT_CACHE_DIR,
    batch_size: int = 128,
    show_progress: bool = True,
) -> Run:
    """Dense top-``k`` over the whole catalogue (catalogue embeddings cached on disk)."""
    st = load_model(model)
    mkey = model_fingerprint(st)
    doc = encode(st, product_texts(products, text_fields), batch_size=batch_size, cache_dir=cache_dir,
                 show_progress=show_progress, model_key=mkey)
    q = encode(st, queries["text"].tolist(), batch_size=batch_size, cache_dir=None, show_progress=False)
    return dense_search(q, doc, products["product_id"].tolist(), k=k)


def evaluate(
    model: Any,
    products: pd.DataFrame,
    queries: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    retrievers: Sequence[str] = RETRIEVERS,
    k: int = 100,
    text_fields: Sequence[str] = ("title",),
    rel_threshold: float = 2.0,
    good_rule: Sequence[Mapping[str, Any]] = tuple(DEFAULT_GOOD_RULE),
    rrf_weights: Mapping[str, float] | None = None,
    rrf_c: float = 60.0,
    cache_dir: Any = DEFAULT_CACHE_DIR,
    bm25: BM25Retriever | None = None,
    show_progress: bool = True,
) -> EvaluationResult:
    """Score ``queries`` against ``qrels`` with BM25, dense and/or hybrid retrieval.

    Args:
        model: sentence-transformers name, path or object (used by ``dense``/``hybrid``).
        products, queries, qrels: contract tables (see :mod:`discovery_pipelines.data.contract`).
        retrievers: subset of ``("bm25", "dense", "hybrid")``; hybrid = RRF of bm25 and dense.
        k: depth of each run (Recall@k uses 100, so keep k >= 100).
        rel_threshold: gain at or above which a product is "relevant" for recall / MRR / P.
        good_rule: Good/Not Good conditions (see :func:`metrics.verdict`).
        rrf_weights: e.g. ``{"bm25": 1.0, "dense": 1.0}``; rrf_c: RRF constant (60 in the paper).
        bm25: a prebuilt index to reuse across calls.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        ValueError: unknown retriever name.
    """
    unknown = set(retrievers) - set(RETRIEVERS)
    if unknown:
        raise ValueError(f"unknown retrievers {sorted(unknown)}; choose from {RETRIEVERS}")
    judged_q = queries[queries["query_id"].isin(set(qrels["query_id"]))].reset_index(drop=True)
    qids = judged_q["query_id"].tolist()
    runs: dict[str, Run] = {}
    timings: dict[str, float] = {}
    need_bm25 = "bm25" in retrievers or "hybrid" in retrievers
    need_dense = "dense" in retrievers or "hybrid" in retrievers
    if need_bm25:
        t = time.perf_counter()
        if bm25 is None:
            bm25 = BM25Retriever(product_texts(products, text_fields), products["product_id"].tolist())
        runs["bm25"] = bm25.search(judged_q["text"].tolist(), k=k)
        timings["bm25_s"] = time.perf_counter() - t
    if need_dense:
        t = time.perf_counter()
        runs["dense"] = dense_run(model, products, judged_q, k=k, text_fields=text_fields,
                                  cache_dir=cache_dir, show_progress=show_progress)
        timings["dense_s"] = time.perf_counter() - t
    if "hybrid" in retrievers:
        t = time.perf_counter()
        runs["hybrid"] = rrf({"bm25": runs["bm25"], "dense": runs["dense"]}, rrf_weights, k=k, c=rrf_c)
        timings["hybrid_s"] = time.perf_counter() - t
    runs = {r: runs[r] for r in retrievers}
    frames, agg = [], {}
    text_of = dict(zip(judged_q["query_id"], judged_q["text"]))
    for name, run in runs.items():
        pq = M.score_run(run_to_dict(qids, run), qrels, rel_threshold)
        pq["verdict"] = M.verdict(pq, good_rule)
        pq.insert(0, "retriever", name)
        pq.insert(2, "text", pq["query_id"].map(text_of))
        agg[name] = M.aggregate(pq)
        frames.append(pq)
    per_query = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return EvaluationResult(agg, per_query, runs, timings)


@dataclass
class SplitEvaluation:
    """What :func:`evaluate_splits` returns.

    ``per_query``: the rows of :attr:`EvaluationResult.per_query` of every (split, model) with ``split`` and
    ``model`` columns; ``metrics``: ``{split: {model: {retriever: {metric: value}}}}``; ``timings``:
    ``{split: {model: {stage_s: seconds, ..., "total_s": seconds}}}``.
    """

    per_query: pd.DataFrame
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]]
    timings: dict[str, dict[str, dict[str, float]]]


def evaluate_splits(
    models: Mapping[str, Any],
    products: pd.DataFrame,
    queries: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    splits: Sequence[str] = ("dev", "holdout"),
    **kwargs: Any,
) -> SplitEvaluation:
    """:func:`evaluate` every model on the queries of every split (full catalogue each time).

    Args:
        models: ``{name: model}``, each a sentence-transformers name, folder or object.
        products, queries, qrels: contract tables; ``queries`` has the ``split`` column of ingest.
        splits: the split names scored, in order.
        **kwargs: passed to :func:`evaluate` (retrievers, k, text_fields, rel_threshold, good_rule, rrf_*,
            cache_dir ...).

    Returns:
        :class:`SplitEvaluation`.

    Raises:
        ValueError: as :func:`evaluate`; KeyError when ``queries`` has no ``split`` column.
    """
    frames, metrics, timings = [], {}, {}
    for split in splits:
        q = queries[queries["split"] == split]
        r = qrels[qrels["query_id"].isin(set(q["query_id"]))]
        metrics[split], timings[split] = {}, {}
        for name, model in models.items():
            t = time.perf_counter()
            res = evaluate(model, products, q, r, **kwargs)
            timings[split][name] = {**res.timings, "total_s": time.perf_counter() - t}
            frames.append(res.per_query.assign(split=split, model=name))
            metrics[split][name] = res.metrics
    return SplitEvaluation(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), metrics, timings)


__all__ = ["evaluate", "evaluate_splits", "EvaluationResult", "SplitEvaluation", "dense_run", "DEFAULT_GOOD_RULE",
           "RETRIEVERS"]
