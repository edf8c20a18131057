"""Nodes of the ``distill`` stage (logic in :mod:`discovery_pipelines.finetune.distill`,
:mod:`discovery_pipelines.finetune.teacher` and :mod:`discovery_pipelines.finetune.trainer`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.data.params import validate
from discovery_pipelines.finetune.distill import budgeted_expansion, expansion_queries, hybrid_candidates, student_examples
from discovery_pipelines.finetune.params import DevEvalParams, ExpansionParams, ModelsParams, StudentExamplesParams
from discovery_pipelines.finetune.teacher import expand_labels
from discovery_pipelines.finetune.trainer import TrainConfig, dev_split_evaluator, train
from discovery_pipelines.reporting import tracking
from discovery_pipelines.search.embeddings import product_texts
from discovery_pipelines.search.evaluation import dense_run
from discovery_pipelines.search.models import load_model
from discovery_pipelines.search.precision import resolve_precision
from discovery_pipelines.search.retrieval import BM25Retriever

log = logging.getLogger(__name__)


def expand_training_labels(teacher: Any, candidate: Any, products: pd.DataFrame, queries: pd.DataFrame,
                           qrels: pd.DataFrame, synthetic_pairs: pd.DataFrame, params: dict[str, Any],
                           model_params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Label expansion: the cross-encoder teacher scores (train + synthetic queries) x (each query's hybrid
    top-k of BM25 and the candidate's dense run, plus its judged products); every pair gets the ensemble
    score of :func:`discovery_pipelines.finetune.distill.ensemble_scores`.

    Scoring is capped by ``budget_seconds``: the first ``probe_queries`` queries measure the seconds per query
    and :func:`discovery_pipelines.finetune.budget.plan_steps` gives how many queries fit (the rest are
    dropped; the queries are in one seeded order, train and synthetic mixed).

    Returns ``(labels, stats)``: ``labels`` one row per scored pair (``query_id, query, product_id, rank,
    teacher_logit, teacher_prob, teacher_label, source, hybrid_score, human_label, teacher_score``); ``stats``
    the pairs the teacher adds per human label, the teacher's positives / confirmed negatives and each
    step's seconds and throughput.
    """
    e = validate(ExpansionParams, params, "distill.expansion")
    models = validate(ModelsParams, model_params, "finetune.models")
    q = expansion_queries(queries, qrels, synthetic_pairs, train_queries=e.train_queries,
                          synthetic_queries=e.synthetic_queries, seed=e.seed)
    texts = product_texts(products, ("title",))
    doc_text = dict(zip(products["product_id"].astype(str), texts))
    t0 = time.perf_counter()
    bm25 = BM25Retriever(texts, products["product_id"].tolist()).search(q["text"].tolist(), k=e.depth)
    dense = dense_run(candidate, products, q, k=e.depth, cache_dir=models.cache_dir, show_progress=False)
    hybrid = hybrid_candidates(q["query_id"].tolist(), bm25, dense, alpha=e.hybrid_alpha, top_k=e.top_k)
    t_retrieve = time.perf_counter() - t0

    def score(text: dict[str, str], cands: dict[str, list[str]]) -> pd.DataFrame:
        return expand_labels(teacher, text, cands, doc_text, top_k=max(len(c) for c in cands.values()),
                             positive_prob=e.positive_prob, negative_prob=e.negative_prob, batch_size=e.batch_size,
                             precision=resolve_precision("auto"), source="expansion")

    labels, stats = budgeted_expansion(q, hybrid, qrels, score, ce_weight=e.ce_weight, probe_queries=e.probe_queries,
                                       budget_seconds=e.budget_seconds)
    stats["seconds"]["retrieval"] = t_retrieve
    stats["ensemble"] = {"ce_weight": e.ce_weight, "hybrid_alpha": e.hybrid_alpha, "top_k": e.top_k, "depth": e.depth}
    stats["thresholds"] = {"positive_prob": e.positive_prob, "negative_prob": e.negative_prob}
    tracking.log_metrics({"expansion_pairs_per_human_label": stats["teacher_pairs_per_human_label"],
                          "expansion_pairs_per_second": stats["teacher_pairs_per_second"]})
    log.info("label expansion: %d pairs scored (%.1f per human label) at %.0f pairs/s", len(labels),
             stats["teacher_pairs_per_human_label"], stats["teacher_pairs_per_second"])
    return labels, stats


def build_student_examples(labels: pd.DataFrame, products: pd.DataFrame,
                           params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per (query, positive) with sampled lower-scored negatives and the teacher's scores
    (:func:`discovery_pipelines.finetune.distill.student_examples`)."""
    p = validate(StudentExamplesParams, params, "distill.examples")
    doc_text = dict(zip(products["product_id"].astype(str), product_texts(products, ("title",))))
    ex = student_examples(labels, doc_text, negatives=p.negatives, positives_per_query=p.positives_per_query,
                          min_positive_label=p.min_positive_label, seed=p.seed)
    scores = np.array(ex["teacher_scores"].tolist(), dtype=float) if len(ex) else np.zeros((0, p.negatives + 1))
    stats = {"rows": int(len(ex)), "queries": int(ex["query_id"].nunique()),
             "by_source": {k: int(v) for k, v in ex["source"].value_counts().items()},
             "teacher_score_mean": {"positive": float(scores[:, 0].mean()) if len(ex) else None,
                                    "negatives": float(scores[:, 1:].mean()) if len(ex) else None},
             "teacher_margin_mean": float((scores[:, :1] - scores[:, 1:]).mean()) if len(ex) else None}
    return ex, stats


def train_student(examples: pd.DataFrame, candidate: Any, products: pd.DataFrame, queries: pd.DataFrame,
                  qrels: pd.DataFrame, train_params: dict[str, Any], dev_eval: dict[str, Any] | None,
                  work_dir: str) -> tuple[Any, dict[str, Any]]:
    """The distilled student: the candidate trained further on the teacher's scores (``loss: distill_kl`` or
    ``margin_mse``) within ``budget_seconds``, monitored on a dev subset like the candidate."""
    cfg = validate(TrainConfig, train_params, "distill.train")
    ev = validate(DevEvalParams, dev_eval, "distill.dev_eval") if dev_eval else None
    evaluator = dev_split_evaluator(products, queries, qrels, **ev.model_dump()) if ev else None
    res = train(candidate, examples, Path(work_dir), cfg, evaluator=evaluator,
                callbacks=[tracking.MlflowStepCallback(prefix="student_")])
    return load_model(res.model_dir), res.summary(cfg)


def report_distill(expansion_stats: dict[str, Any], example_stats: dict[str, Any],
                   student_summary: dict[str, Any]) -> dict[str, Any]:
    """``data/08_reporting/distill/metrics.json``: what label expansion added (pairs per human label, the
    teacher's positives and confirmed negatives), the student's rows, and each stage's seconds, throughput and
    budget plan. The student's retrieval figures against BM25 and today's recipe are in the quality report."""
    sec = expansion_stats.get("seconds", {})
    return {
        "label_expansion": {k: expansion_stats.get(k) for k in (
            "queries", "scored_pairs", "unjudged_pairs", "human_labels_of_sampled_train_queries",
            "teacher_pairs_per_human_label", "teacher_positives_per_human_label", "teacher_confirmed_negatives",
            "ensemble")},
        "student_examples": {k: example_stats.get(k) for k in ("rows", "queries", "by_source", "teacher_margin_mean")},
        "student": {k: student_summary.get(k) for k in ("examples", "best_metric", "selected_step", "selection")},
        "throughput": {
            "teacher_scoring": {"seconds": sec.get("teacher_scoring"), "unit": "pairs/s",
                                "value": expansion_stats.get("teacher_pairs_per_second"),
                                "budget": expansion_stats.get("budget")},
            "retrieval_seconds": sec.get("retrieval"),
            "student_training": {"seconds": student_summary.get("train_seconds"), "unit": "examples/s",
                                 "value": student_summary.get("examples_per_second"),
                                 "budget": student_summary.get("budget")}},
    }
