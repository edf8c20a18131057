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

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

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
    for qid, g in labels.sort_values(["query_id", "teacher_score"], ascending=[True, False]).groupby(
            "query_id", sort=True):
        g = g[g["product_id"].isin(doc_text.keys())]
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
