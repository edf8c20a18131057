"""Learned ranking of the hybrid head: LambdaMART (LightGBM's ``lambdarank`` objective) over features of the
first stage and of the query-title overlap.

The served ``ltr`` mode re-orders the first ``depth`` products of the hybrid list (BM25 + dense, fused as
chosen on dev) by a gradient-boosted ranker trained on the train split's graded qrels over the same
candidate lists: unjudged candidates are label 0, judged ones their gain, and the objective is
LambdaRank's nDCG-weighted pairwise loss (Burges 2010, "From RankNet to LambdaRank to LambdaMART: an
overview", MSR-TR-2010-82), with the qrels' gains as LightGBM ``label_gain``. The features are the kind a
shop's search team hand-crafts for product search (the Home Depot relevance competition's winning entries
rest on the same query-title match statistics): where the first stage put the product, how strongly each
retriever scored it, and how the query's words, word stems and numbers (sizes, voltages, gauges) occur in
the title. Every feature is computed from what the search service holds for one query (the fused list, the
BM25 and dense scores, the catalogue vectors and titles), by the one function :func:`candidate_features`,
offline (training, evaluation) and online (``SearchEngine``), so the served scores equal the evaluated ones.

Usable without Kedro: :func:`run_features` + :func:`train_ranker` on any runs and qrels,
:func:`ranker_scores` to score, :func:`discovery_pipelines.search.rerank.apply_rerank` to re-order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import Field

from discovery_pipelines.data.params import Params

#: Feature columns, in the ranker's input order (recorded in the index manifest).
FEATURES: tuple[str, ...] = (
    "rank",          # 0-based position in the hybrid list
    "hybrid",        # fused first-stage score
    "hybrid_gap",    # hybrid - the query's best hybrid score (<= 0)
    "bm25",          # BM25 score (0 when outside the BM25 list the hybrid fused)
    "bm25_rel",      # bm25 / the head's best BM25 score
    "cosine",        # query-product cosine of the dense model
    "cosine_gap",    # cosine - the head's best cosine (<= 0)
    "exact",         # share of the query's tokens that are title tokens
    "prefix",        # share of the query's tokens sharing a 4-character prefix with a title token (stems, plurals)
    "numeric",       # share of the query's tokens with a digit that are title tokens; -1 when the query has none
    "query_tokens",  # number of query tokens
    "title_tokens",  # number of title tokens
)

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens of ``text`` (``"18-Volt 1/2 in."`` -> ``["18", "volt", "1", "2", "in"]``)."""
    return _TOKEN.findall(str(text).lower())


def candidate_features(query: str, titles: Sequence[str], hybrid: Sequence[float], bm25: Sequence[float],
                       cosine: Sequence[float]) -> np.ndarray:
    """The ranker's input for one query's head (see :data:`FEATURES`).

    Args:
        query: the query text as served.
        titles: the head's product titles, in hybrid order (``n`` of them).
        hybrid: their fused scores, descending (``n``).
        bm25: their BM25 scores, 0 for products outside the BM25 list (``n``).
        cosine: their dense cosine with the query (``n``).

    Returns:
        float32 ``(n, len(FEATURES))``; ``(0, len(FEATURES))`` for an empty head.
    """
    n = len(titles)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    q = set(tokens(query))
    nq = max(len(q), 1)
    nums = [x for x in q if any(c.isdigit() for c in x)]
    h = np.asarray(hybrid, dtype=np.float64)
    b = np.asarray(bm25, dtype=np.float64)
    c = np.asarray(cosine, dtype=np.float64)
    out[:, 0] = np.arange(n)
    out[:, 1] = h
    out[:, 2] = h - h.max()
    out[:, 3] = b
    out[:, 4] = b / b.max() if b.max() > 0 else 0.0
    out[:, 5] = c
    out[:, 6] = c - c.max()
    out[:, 10] = len(q)
    for j, title in enumerate(titles):
        t = tokens(title)
        ts = set(t)
        out[j, 7] = len(q & ts) / nq
        out[j, 8] = sum(any(w.startswith(x[:4]) or x.startswith(w[:4]) for w in ts) for x in q) / nq
        out[j, 9] = sum(x in ts for x in nums) / len(nums) if nums else -1.0
        out[j, 11] = len(t)
    return out


def run_features(query_texts: Sequence[str], hybrid: tuple[np.ndarray, np.ndarray], bm25: tuple[np.ndarray, np.ndarray],
                 query_emb: np.ndarray, doc_emb: np.ndarray, position: Mapping[str, int], doc_text: Mapping[str, str],
                 depth: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """:func:`candidate_features` of every query's hybrid head (offline: training and evaluation).

    Args:
        query_texts: ``nq`` query texts (the runs' row order).
        hybrid: the fused run ``(ids (nq, k) object, scores (nq, k))`` (:mod:`discovery_pipelines.search.fusion`).
        bm25: the BM25 run that was fused (``(nq, k')``).
        query_emb: float32 ``(nq, d)`` L2-normalised query vectors of the dense model.
        doc_emb: float32 ``(N, d)`` catalogue vectors; ``position`` maps a product id to its row.
        doc_text: product id -> title (the text BM25 indexes).
        depth: head size re-ordered per query (the first ``depth`` hybrid products).

    Returns:
        ``(X float32 (sum of head sizes, F), groups int64 (nq,) head size per query, heads)``, ``heads`` the
        product ids of each query's head in hybrid order.
    """
    xs, groups, heads = [], np.zeros(len(query_texts), dtype=np.int64), []
    for i, q in enumerate(query_texts):
        keep = [j for j, p in enumerate(hybrid[0][i, :depth]) if p is not None]
        head = [hybrid[0][i, j] for j in keep]
        bm = {p: float(s) for p, s in zip(bm25[0][i], bm25[1][i]) if p is not None}
        rows = np.fromiter((position[p] for p in head), dtype=np.int64, count=len(head))
        cos = doc_emb[rows] @ query_emb[i] if len(head) else np.zeros(0)
        xs.append(candidate_features(q, [doc_text[p] for p in head], hybrid[1][i, keep],
                                     [bm.get(p, 0.0) for p in head], cos))
        groups[i] = len(head)
        heads.append(head)
    return (np.concatenate(xs) if xs else np.zeros((0, len(FEATURES)), np.float32)), groups, heads


class LTRConfig(Params):
    """LambdaMART hyper-parameters (defaults: ``quality.ltr`` in ``conf/base/parameters_quality.yml``)."""

    depth: int = Field(50, ge=2, le=1000)              # hybrid head re-ordered per query
    max_train_queries: int | None = Field(None, ge=10)  # seeded sample of the train split's judged queries
    n_estimators: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    truncation_level: int = Field(20, ge=1)             # lambdarank_truncation_level: pairs scored per query
    seed: int = 13


def graded_labels(gains: Sequence[float]) -> tuple[np.ndarray, list[float]]:
    """Integer relevance levels for LightGBM and the gain of each level: level ``i`` is the ``i``-th
    smallest distinct gain (0, unjudged, always level 0), so LambdaRank's nDCG uses the qrels' own gains."""
    g = np.asarray(gains, dtype=np.float64)
    levels = sorted({0.0, *np.unique(g).tolist()})
    return np.searchsorted(levels, g).astype(np.int32), [float(x) for x in levels]


def train_ranker(X: np.ndarray, gains: Sequence[float], groups: Sequence[int], config: LTRConfig) -> Any:
    """Fit LambdaMART on the judged heads.

    Args:
        X: ``(n, F)`` from :func:`run_features`; gains: ``(n,)`` qrels gain of each row (0 unjudged);
        groups: head sizes in row order (sum = ``n``).

    Returns:
        ``lightgbm.Booster``.

    Raises:
        ValueError: shapes disagree, or no row has a positive gain (nothing to learn).
    """
    import lightgbm as lgb

    g = np.asarray(groups, dtype=np.int64)
    if X.shape[0] != len(gains) or int(g.sum()) != X.shape[0]:
        raise ValueError(f"train_ranker: {X.shape[0]} rows, {len(gains)} gains, groups summing to {int(g.sum())}")
    labels, label_gain = graded_labels(gains)
    if labels.max(initial=0) == 0:
        raise ValueError("train_ranker: no candidate has a positive gain; the heads hold no judged product")
    keep = g > 0
    m = lgb.LGBMRanker(objective="lambdarank", n_estimators=config.n_estimators, learning_rate=config.learning_rate,
                       num_leaves=config.num_leaves, min_child_samples=config.min_child_samples,
                       subsample=config.subsample, subsample_freq=1, colsample_bytree=config.colsample_bytree,
                       label_gain=label_gain, lambdarank_truncation_level=config.truncation_level,
                       random_state=config.seed, n_jobs=-1, verbose=-1)
    m.fit(X, labels, group=g[keep], feature_name=list(FEATURES))
    return m.booster_


def load_ranker(model: Any) -> Any:
    """A ``lightgbm.Booster`` from a booster, its ``model_to_string()`` text, or a model file path.

    Raises:
        ValueError: the model's features are not :data:`FEATURES` (a ranker from another feature set).
    """
    import lightgbm as lgb

    if isinstance(model, lgb.Booster):
        b = model
    elif isinstance(model, str) and "\n" in model:
        b = lgb.Booster(model_str=model)
    else:
        b = lgb.Booster(model_file=str(model))
    if tuple(b.feature_name()) != FEATURES:
        raise ValueError(f"ranker features {b.feature_name()} are not this version's {list(FEATURES)}")
    return b


def ranker_scores(ranker: Any, X: np.ndarray, groups: Sequence[int]) -> list[np.ndarray]:
    """Ranker score of every head row, split per query (``groups`` as returned by :func:`run_features`)."""
    s = ranker.predict(X, num_threads=1) if len(X) else np.zeros(0)
    return np.split(np.asarray(s, dtype=np.float64), np.cumsum(np.asarray(groups))[:-1])


def score_head(ranker: Any, query: str, titles: Sequence[str], hybrid: Sequence[float], bm25: Sequence[float],
               cosine: Sequence[float]) -> np.ndarray:
    """Ranker scores, float64 ``(n,)``, of one query's head (online: the search service, one query at a time);
    arguments as :func:`candidate_features`."""
    return np.asarray(ranker.predict(candidate_features(query, titles, hybrid, bm25, cosine), num_threads=1),
                      dtype=np.float64)


def importance(ranker: Any) -> dict[str, float]:
    """Share of the total split gain per feature (sums to 1), largest first."""
    g = np.asarray(ranker.feature_importance("gain"), dtype=np.float64)
    g = g / g.sum() if g.sum() > 0 else g
    return dict(sorted(zip(FEATURES, g.round(4).tolist()), key=lambda kv: -kv[1]))
