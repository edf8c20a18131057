"""Label expansion by the teacher and the distilled student's training rows.

Seed 000 (DashCLIP) and the MS MARCO distillation recipes (Hofstätter et al. 2020, "Improving Efficient Neural
Ranking Models with Cross-Architecture Knowledge Distillation", MarginMSE; the listwise KL variant of RocketQAv2,
Ren et al. 2021): a teacher trained on human labels scores many more (query, product) pairs than humans
judged, and a bi-encoder student learns the teacher's *graded* preferences among a query's candidates.

The teacher here is an **ensemble** (:func:`ensemble_scores`): the cross-encoder's probability
``sigmoid(logit)`` (the human soft label ``gain / max_gain`` where a rater judged the pair, since the
cross-encoder was trained to predict exactly that) fused with the hybrid first stage's score (weighted sum
of per-query min-max normalised BM25 and dense scores, :func:`discovery_pipelines.search.fusion.weighted_sum`).
A 180 s CPU cross-encoder alone ranks worse than the hybrid; the fused score carries the lexical evidence
of BM25 into the dense student, the known way to make a dense model hold its own on keyword-heavy queries
(Chen et al. 2021, "Salient Phrase Aware Dense Retrieval: Can a Dense Retriever Imitate a Sparse One?").

Pipeline: :func:`hybrid_candidates` (the queries' hybrid top-k, from BM25 and the dense model's runs) ->
the cross-encoder scores every candidate (:func:`discovery_pipelines.finetune.teacher.expand_labels`) ->
:func:`ensemble_scores` -> :func:`student_examples` (one row per (query, positive): the positive, ``n``
negatives sampled from the query's lower-scored candidates, and the teacher's scores of all ``1 + n``),
which :func:`discovery_pipelines.finetune.trainer.train` trains on with ``loss: distill_kl`` or
``margin_mse``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.data.splits import held_out_texts
from discovery_pipelines.data.text import normalize_query
from discovery_pipelines.finetune.budget import plan_steps
from discovery_pipelines.search.fusion import weighted_sum
from discovery_pipelines.search.retrieval import Run


def hybrid_candidates(query_ids: Sequence[str], bm25: Run, dense: Run, *, alpha: float,
                      top_k: int) -> dict[str, list[tuple[str, float]]]:
    """Each query's hybrid top-``top_k``: the weighted sum of min-max normalised BM25 and dense scores with
    dense weight ``alpha`` and BM25 weight ``1 - alpha`` (the served ``weighted`` fusion).

    Args:
        query_ids: row order of both runs (``nq``).
        bm25, dense: ``(ids (nq, depth) object, scores (nq, depth) float32)`` runs.

    Returns:
        ``{query_id: [(product_id, hybrid score in [0, 1]), ...]}``, best first; padding dropped.

    Raises:
        ValueError: ``alpha`` outside [0, 1] or runs of a different length than ``query_ids``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"hybrid_candidates: alpha must be in [0, 1], got {alpha}")
    if len(bm25[0]) != len(query_ids) or len(dense[0]) != len(query_ids):
        raise ValueError("hybrid_candidates: runs and query_ids differ in length")
    ids, scores = weighted_sum({"bm25": bm25, "dense": dense}, {"bm25": 1.0 - alpha, "dense": alpha}, k=top_k)
    return {q: [(p, float(s)) for p, s in zip(ids[i], scores[i]) if p is not None]
            for i, q in enumerate(query_ids)}


def ensemble_scores(ce_logits: np.ndarray, hybrid: np.ndarray, human: np.ndarray, *, ce_weight: float) -> np.ndarray:
    """The teacher's score of each pair: ``ce_weight * p + (1 - ce_weight) * hybrid``.

    Args:
        ce_logits: float ``(n,)`` cross-encoder logits; ``p = sigmoid(logit)``.
        hybrid: float ``(n,)`` hybrid scores in [0, 1] (0 for a pair outside the query's hybrid top-k).
        human: float ``(n,)`` human soft labels ``gain / max_gain`` in [0, 1], NaN for unjudged pairs; where
            present it replaces ``p`` (the cross-encoder was trained to predict it; the rater knows better).
        ce_weight: in [0, 1]; 1 = cross-encoder (and human labels) only, 0 = the hybrid first stage only.

    Returns:
        float32 ``(n,)`` in [0, 1].

    Raises:
        ValueError: shapes differ or ``ce_weight`` outside [0, 1].
    """
    ce_logits, hybrid, human = (np.asarray(a, dtype=np.float64) for a in (ce_logits, hybrid, human))
    if not (ce_logits.shape == hybrid.shape == human.shape):
        raise ValueError(f"ensemble_scores: shapes {ce_logits.shape}, {hybrid.shape}, {human.shape} differ")
    if not 0.0 <= ce_weight <= 1.0:
        raise ValueError(f"ensemble_scores: ce_weight must be in [0, 1], got {ce_weight}")
    p = 1.0 / (1.0 + np.exp(-ce_logits))
    p = np.where(np.isnan(human), p, human)
    return (ce_weight * p + (1.0 - ce_weight) * hybrid).astype(np.float32)


def student_examples(labels: pd.DataFrame, doc_text: Mapping[str, str], *, negatives: int,
                     positives_per_query: int, min_positive_label: float, seed: int) -> pd.DataFrame:
    """Training rows for the distilled student, one per (query, positive).

    Positives of a query: its judged products with human soft label >= ``min_positive_label`` (best
    teacher score first, at most ``positives_per_query``); a query without one (synthetic queries, train
    queries whose judged products the teacher did not see) takes its top-scored candidate. Negatives:
    ``negatives`` products drawn (seeded, without replacement) from the query's candidates that score below
    the positive — hard and easy ones alike, since the loss learns the graded gaps, not a binary label
    (a relevant-but-lower product is no false negative here: it carries its own high score). Rows whose
    query has too few lower-scored candidates are skipped.

    Args:
        labels: one row per scored pair: ``query_id, query, product_id, teacher_score`` (float, the
            ensemble) and ``human_label`` (float, NaN = unjudged).
        doc_text: ``{product_id: text}`` the student encodes.

    Returns:
        DataFrame ``query_id, query, positive, product_id, negative_1..n, negative_id_1..n, teacher_scores``
        (list of ``1 + negatives`` floats: positive first) and ``source`` (``judged`` / ``teacher_top``).

    Raises:
        ValueError: ``negatives`` < 1 or ``positives_per_query`` < 1.
    """
    if negatives < 1 or positives_per_query < 1:
        raise ValueError("student_examples: negatives and positives_per_query must be >= 1")
    rng = np.random.default_rng(seed)
    rows = []
    known = labels["product_id"].map(lambda p: p in doc_text).to_numpy(dtype=bool)  # one lookup per pair
    for qid, g in labels[known].sort_values(["query_id", "teacher_score"], ascending=[True, False]).groupby(
            "query_id", sort=True):
        if len(g) < negatives + 1:
            continue
        pos = g[g["human_label"] >= min_positive_label].head(positives_per_query)
        source = "judged"
        if pos.empty:
            pos, source = g.head(1), "teacher_top"
        for _, prow in pos.iterrows():
            lower = g[g["teacher_score"] < prow["teacher_score"]]
            if len(lower) < negatives:
                continue
            take = lower.iloc[np.sort(rng.choice(len(lower), size=negatives, replace=False))]
            rec = {"query_id": qid, "query": prow["query"], "product_id": prow["product_id"],
                   "positive": doc_text[prow["product_id"]], "source": source,
                   "teacher_scores": [float(prow["teacher_score"]), *map(float, take["teacher_score"])]}
            for j, pid in enumerate(take["product_id"]):
                rec[f"negative_id_{j + 1}"] = pid
                rec[f"negative_{j + 1}"] = doc_text[pid]
            rows.append(rec)
    cols = ["query_id", "query", "product_id", "positive",
            *[c for j in range(negatives) for c in (f"negative_{j + 1}", f"negative_id_{j + 1}")],
            "teacher_scores", "source"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def expansion_queries(queries: pd.DataFrame, qrels: pd.DataFrame, synthetic_pairs: pd.DataFrame, *,
                      train_queries: int, synthetic_queries: int, seed: int) -> pd.DataFrame:
    """The queries label expansion scores: a seeded sample of ``train_queries`` train-split queries that have
    qrels and of ``synthetic_queries`` synthetic queries (none spelling a dev / holdout or any known query,
    compared after :func:`~discovery_pipelines.data.text.normalize_query`), in one seeded order so that a
    time budget keeps their mix.

    Returns:
        DataFrame ``query_id, text, source`` (``source`` train | synthetic; synthetic ids ``synthetic:<i>``).
    """
    train_q = queries[(queries["split"] == "train") & queries["query_id"].isin(set(qrels["query_id"]))]
    train_q = train_q.sample(n=min(train_queries, len(train_q)), random_state=seed)
    frames = [pd.DataFrame({"query_id": train_q["query_id"].astype(str), "text": train_q["text"].astype(str),
                            "source": "train"})]
    if len(synthetic_pairs) and synthetic_queries:
        held, seen = held_out_texts(queries), {normalize_query(t) for t in queries["text"]}
        syn = pd.Series(synthetic_pairs["query"].astype(str).unique())
        syn = syn[[normalize_query(t) not in held and normalize_query(t) not in seen for t in syn]]
        syn = syn.sample(n=min(synthetic_queries, len(syn)), random_state=seed) if len(syn) else syn
        frames.append(pd.DataFrame({"query_id": [f"synthetic:{i}" for i in range(len(syn))], "text": syn.tolist(),
                                    "source": "synthetic"}))
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def budgeted_expansion(queries: pd.DataFrame, hybrid: Mapping[str, list[tuple[str, float]]], qrels: pd.DataFrame,
                       score: Callable[[Mapping[str, str], Mapping[str, list[str]]], pd.DataFrame], *,
                       ce_weight: float, probe_queries: int, budget_seconds: float | None
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score each query's hybrid candidates plus its judged products with the teacher, within a time budget,
    and attach the ensemble score (:func:`ensemble_scores`).

    The first ``probe_queries`` queries measure seconds per query; :func:`~discovery_pipelines.finetune.budget
    .plan_steps` then caps how many of the (seeded-order) queries are scored in ``budget_seconds``
    (``None`` = all).

    Args:
        queries: ``query_id, text, source`` (:func:`expansion_queries`).
        hybrid: ``{query_id: [(product_id, score in [0, 1]), ...]}`` (:func:`hybrid_candidates`).
        qrels: ``query_id, product_id, gain``; the human soft label is ``gain / max(gain)``.
        score: ``score(query_text, candidates) -> DataFrame`` with at least ``query_id, product_id,
            teacher_logit, teacher_label`` (e.g. :func:`discovery_pipelines.finetune.teacher.expand_labels` bound to a model).

    Returns:
        ``(labels, stats)``: ``labels`` = ``score``'s columns + ``source, hybrid_score (float32), human_label
        (float32, NaN when unjudged), teacher_score``; ``stats`` the pairs added per human label, the teacher's
        positives / confirmed negatives by source, seconds, pairs/s and the budget plan.
    """
    max_gain = float(qrels["gain"].max())
    r = qrels[qrels["query_id"].isin(set(queries["query_id"]))]
    human = {(a, b): g / max_gain for a, b, g in zip(r["query_id"].astype(str), r["product_id"].astype(str), r["gain"])}
    judged_of: dict[str, list[str]] = {}
    for a, b in human:
        judged_of.setdefault(a, []).append(b)
    cands = {}
    for qid in queries["query_id"]:
        top = [p for p, _ in hybrid[qid]]
        in_top = set(top)
        cands[qid] = top + [p for p in judged_of.get(qid, []) if p not in in_top]
    text = dict(zip(queries["query_id"], queries["text"]))
    qids = queries["query_id"].tolist()
    t1 = time.perf_counter()
    first = score({k: text[k] for k in qids[:probe_queries]}, cands)
    per_query = (time.perf_counter() - t1) / max(min(probe_queries, len(qids)), 1)
    plan = plan_steps(len(qids), per_query, budget_seconds)
    rest = qids[probe_queries: plan["steps"]]
    labels = pd.concat([first, score({k: text[k] for k in rest}, cands)] if rest else [first], ignore_index=True)
    t_score = time.perf_counter() - t1
    q = queries[queries["query_id"].isin(set(labels["query_id"]))]
    r = r[r["query_id"].isin(set(q["query_id"]))]
    labels["source"] = labels["query_id"].map(dict(zip(q["query_id"], q["source"])))
    hyb = {(qid, p): s for qid, lst in hybrid.items() for p, s in lst}
    keys = list(zip(labels["query_id"], labels["product_id"]))
    labels["hybrid_score"] = np.array([hyb.get(k, 0.0) for k in keys], dtype=np.float32)
    labels["human_label"] = np.array([human.get(k, np.nan) for k in keys], dtype=np.float32)
    labels["teacher_score"] = ensemble_scores(labels["teacher_logit"].to_numpy(), labels["hybrid_score"].to_numpy(),
                                              labels["human_label"].to_numpy(), ce_weight=ce_weight)
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
        "seconds": {"teacher_scoring": t_score},
        "budget": {**plan, "unit": "queries"},
        "teacher_pairs_per_second": float(len(labels) / max(t_score, 1e-9)),
    }
    return labels, stats
