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
from discovery_pipelines.data.splits import held_out_texts
from discovery_pipelines.data.text import normalize_query
from discovery_pipelines.finetune.budget import plan_steps
from discovery_pipelines.finetune.distill import ensemble_scores, hybrid_candidates, student_examples
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


def _expansion_queries(queries: pd.DataFrame, qrels: pd.DataFrame, synthetic_pairs: pd.DataFrame,
                       e: ExpansionParams) -> pd.DataFrame:
    """Seeded sample of train-split queries with qrels and of synthetic queries (none spelling a dev /
    holdout query): ``query_id, text, source``."""
    train_q = queries[(queries["split"] == "train") & queries["query_id"].isin(set(qrels["query_id"]))]
    train_q = train_q.sample(n=min(e.train_queries, len(train_q)), random_state=e.seed)
    frames = [pd.DataFrame({"query_id": train_q["query_id"].astype(str), "text": train_q["text"].astype(str),
                            "source": "train"})]
    if len(synthetic_pairs) and e.synthetic_queries:
        held, seen = held_out_texts(queries), {normalize_query(t) for t in queries["text"]}
        syn = pd.Series(synthetic_pairs["query"].astype(str).unique())
        syn = syn[[normalize_query(t) not in held and normalize_query(t) not in seen for t in syn]]
        syn = syn.sample(n=min(e.synthetic_queries, len(syn)), random_state=e.seed) if len(syn) else syn
        frames.append(pd.DataFrame({"query_id": [f"synthetic:{i}" for i in range(len(syn))], "text": syn.tolist(),
                                    "source": "synthetic"}))
    # one seeded order for both sources, so that a time budget keeps their mix
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=e.seed).reset_index(drop=True)


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
    q = _expansion_queries(queries, qrels, synthetic_pairs, e)
    texts = product_texts(products, ("title",))
    doc_text = dict(zip(products["product_id"].astype(str), texts))
    t0 = time.perf_counter()
    bm25 = BM25Retriever(texts, products["product_id"].tolist()).search(q["text"].tolist(), k=e.depth)
    dense = dense_run(candidate, products, q, k=e.depth, cache_dir=models.cache_dir, show_progress=False)
    hybrid = hybrid_candidates(q["query_id"].tolist(), bm25, dense, alpha=e.hybrid_alpha, top_k=e.top_k)
    t_retrieve = time.perf_counter() - t0
    max_gain = float(qrels["gain"].max())
    r = qrels[qrels["query_id"].isin(set(q["query_id"]))]
    human = {(a, b): g / max_gain for a, b, g in zip(r["query_id"].astype(str), r["product_id"].astype(str), r["gain"])}
    judged_of: dict[str, list[str]] = {}
    for a, b in human:
        judged_of.setdefault(a, []).append(b)
    cands = {}
    for qid in q["query_id"]:
        top = [p for p, _ in hybrid[qid]]
        in_top = set(top)
        cands[qid] = top + [p for p in judged_of.get(qid, []) if p not in in_top]
    text = dict(zip(q["query_id"], q["text"]))

    def score(qids: list[str]) -> pd.DataFrame:
        return expand_labels(teacher, {k: text[k] for k in qids}, cands, doc_text,
                             top_k=max(len(c) for c in cands.values()), positive_prob=e.positive_prob,
                             negative_prob=e.negative_prob, batch_size=e.batch_size,
                             precision=resolve_precision("auto"), source="expansion")

    # time budget: score the first queries, then as many more as budget / measured seconds per query allows
    qids = q["query_id"].tolist()
    t1 = time.perf_counter()
    first = score(qids[: e.probe_queries])
    per_query = (time.perf_counter() - t1) / max(min(e.probe_queries, len(qids)), 1)
    plan = plan_steps(len(qids), per_query, e.budget_seconds)
    labels = pd.concat([first, score(qids[e.probe_queries: plan["steps"]])], ignore_index=True)
    t_score = time.perf_counter() - t1
    q = q[q["query_id"].isin(set(labels["query_id"]))]
    r = r[r["query_id"].isin(set(q["query_id"]))]
    labels["source"] = labels["query_id"].map(dict(zip(q["query_id"], q["source"])))
    hyb = {(qid, p): s for qid, lst in hybrid.items() for p, s in lst}
    keys = list(zip(labels["query_id"], labels["product_id"]))
    labels["hybrid_score"] = np.array([hyb.get(k, 0.0) for k in keys], dtype=np.float32)
    labels["human_label"] = np.array([human.get(k, np.nan) for k in keys], dtype=np.float32)
    labels["teacher_score"] = ensemble_scores(labels["teacher_logit"].to_numpy(), labels["hybrid_score"].to_numpy(),
                                              labels["human_label"].to_numpy(), ce_weight=e.ce_weight)
    unjudged = labels["human_label"].isna()
    n_human = int(len(r))
    by = labels[unjudged].groupby(["source", "teacher_label"]).size().unstack(fill_value=0)
    stats = {
        "queries": {s: int(n) for s, n in q["source"].value_counts().items()},
        "scored_pairs": int(len(labels)), "unjudged_pairs": int(unjudged.sum()),
        "human_labels_of_sampled_train_queries": n_human,
        "teacher_pairs_per_human_label": float(unjudged.sum() / max(n_human, 1)),
        "teacher_positives_per_human_label": float(
            (unjudged & (labels["teacher_label"] == "teacher_positive")).sum() / max(n_human, 1)),
        "teacher_confirmed_negatives": int((unjudged & (labels["teacher_label"] == "teacher_negative")).sum()),
        "by_source": {s: {k: int(v) for k, v in row.items()} for s, row in by.iterrows()},
        "ensemble": {"ce_weight": e.ce_weight, "hybrid_alpha": e.hybrid_alpha, "top_k": e.top_k, "depth": e.depth},
        "thresholds": {"positive_prob": e.positive_prob, "negative_prob": e.negative_prob},
        "seconds": {"retrieval": t_retrieve, "teacher_scoring": t_score},
        "budget": {**plan, "unit": "queries"},
        "teacher_pairs_per_second": float(len(labels) / max(t_score, 1e-9)),
    }
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
