"""Ranking metrics over graded qrels, per query.

Definitions (Järvelin & Kekäläinen 2002 for nDCG; Manning et al., *Introduction to IR*, ch. 8):

* ``ndcg@k`` = DCG@k / IDCG@k with linear gain and log2 discount,
  DCG@k = sum_{i=1..k} gain_i / log2(i + 1); IDCG uses every judged product of the query sorted
  by gain. Unjudged products have gain 0.
* ``recall@k`` = |relevant in top k| / |relevant|, relevant meaning ``gain >= rel_threshold``.
* ``mrr@k`` = 1 / rank of the first relevant product within k (0 when none).
* ``p@k`` = |relevant in top k| / k.

Queries without any relevant product are still scored for nDCG but get NaN recall (and are left out
of that mean), as in trec_eval.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("ndcg@10", "recall@100", "mrr@10", "p@10")
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def qrels_dict(qrels: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{query_id: {product_id: gain}}`` from a contract qrels table."""
    out: dict[str, dict[str, float]] = {}
    for q, p, g in zip(qrels["query_id"], qrels["product_id"], qrels["gain"].astype(float)):
        out.setdefault(str(q), {})[str(p)] = float(g)
    return out


def score_query(
    ranked: Sequence[str], judged: Mapping[str, float], rel_threshold: float
) -> dict[str, float]:
    """All :data:`METRICS` for one ranked list of product ids against one query's judgments."""
    gains = [judged.get(str(p), 0.0) for p in ranked]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sorted(judged.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    n_rel = sum(1 for g in judged.values() if g >= rel_threshold)
    rel = [g >= rel_threshold for g in gains]
    first = next((i for i, r in enumerate(rel[:10]) if r), None)
    return {
        "ndcg@10": dcg / idcg if idcg > 0 else 0.0,
        "recall@100": (sum(rel[:100]) / n_rel) if n_rel else float("nan"),
        "mrr@10": 1.0 / (first + 1) if first is not None else 0.0,
        "p@10": sum(rel[:10]) / 10.0,
    }


def score_run(
    run: Mapping[str, Sequence[str]], qrels: pd.DataFrame, rel_threshold: float = 2.0
) -> pd.DataFrame:
    """Per-query metrics: one row per query in ``qrels`` (a query missing from ``run`` scores 0).

    Returns:
        DataFrame with ``query_id`` and one float column per metric in :data:`METRICS`.
    """
    qd = qrels_dict(qrels)
    rows = []
    for qid, judged in qd.items():
        rows.append({"query_id": qid, **score_query(run.get(qid, []), judged, rel_threshold)})
    return pd.DataFrame(rows, columns=["query_id", *METRICS])


def aggregate(per_query: pd.DataFrame) -> dict[str, float]:
    """Mean of each metric (NaN-skipping) plus ``n_queries`` and ``good_rate`` when a verdict exists."""
    out = {m: float(np.nanmean(per_query[m])) if len(per_query) else 0.0 for m in METRICS if m in per_query}
    out["n_queries"] = int(len(per_query))
    if "verdict" in per_query:
        out["good_rate"] = float((per_query["verdict"] == "Good").mean()) if len(per_query) else 0.0
    return out


def verdict(per_query: pd.DataFrame, rule: Sequence[Mapping[str, object]]) -> pd.Series:
    """``"Good"`` where every condition holds, else ``"Not Good"``.

    Args:
        rule: conditions like ``[{"metric": "ndcg@10", "op": ">=", "value": 0.5}]`` (all must hold;
            ops ``>= > <= <``). NaN metric values fail their condition.

    Raises:
        ValueError: unknown metric or operator.
    """
    ok = pd.Series(True, index=per_query.index)
    for cond in rule:
        m, op, v = str(cond["metric"]), str(cond.get("op", ">=")), float(cond["value"])  # type: ignore[arg-type]
        if m not in per_query or op not in _OPS:
            raise ValueError(f"bad Good/Not Good condition {dict(cond)}: metric in {list(METRICS)}, op in {list(_OPS)}")
        ok &= _OPS[op](per_query[m].fillna(-math.inf if op.startswith(">") else math.inf), v)
    return ok.map({True: "Good", False: "Not Good"})


def wilson_interval(successes: Any, trials: Any, z: float = 1.96) -> tuple[Any, Any]:
    r"""Wilson score interval for a binomial proportion (Wilson 1927, JASA 22:209; recommended by Agresti &
    Coull 1998, Am. Stat. 52:119)::

        p = k / n
        centre = (p + z^2/(2n)) / (1 + z^2/n)
        half   = z * sqrt(p(1-p)/n + z^2/(4 n^2)) / (1 + z^2/n)
        interval = [centre - half, centre + half]

    Unlike the Wald interval it stays in [0, 1] and is conservative for small ``n``, so as a ranking score
    (the lower end) a product clicked 3 times in 3 impressions ranks below one clicked 300 times in 400
    (Miller 2009, "How not to sort by average rating"). Used for the CTR lower bound of log mining (whose
    SQL engines compute the same formula) and the Not-Good rate intervals of failure analysis.

    Args:
        successes: ``k`` (scalar or array; clipped to ``[0, n]``).
        trials: ``n`` (same shape); ``n = 0`` gives the uninformative interval ``(0, 1)``.
        z: standard-normal quantile (1.96 = two-sided 95 %).

    Returns:
        ``(low, high)``: float64 arrays of the inputs' shape (numpy scalars for scalar inputs), in [0, 1].
    """
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip(np.asarray(successes, dtype=np.float64), 0, n) / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    empty = n == 0
    low = np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low[()], high[()]


def binary_topk_metrics(
    ranked: np.ndarray, relevant: Sequence[np.ndarray], *, recall_k: int = 20, ndcg_k: int = 10, hit_k: int = 10
) -> pd.DataFrame:
    """Binary-relevance top-k metrics per row (one row = one user / basket / query).

    Args:
        ranked: int array ``(n, K)`` of item indices, best first (``-1`` = empty slot); ``K`` >= the ks.
        relevant: ``n`` int arrays of relevant item indices (e.g. the distinct products of a test basket).
        recall_k, ndcg_k, hit_k: cut-offs.

    Returns:
        DataFrame with ``recall@{recall_k}`` = |top-k ∩ rel| / |rel|, ``ndcg@{ndcg_k}`` = DCG / IDCG with
        gain 1 and discount 1 / log2(rank + 1), IDCG over min(|rel|, k) hits (Järvelin & Kekäläinen 2002),
        ``hit@{hit_k}`` = 1 if any relevant item is in the top k, and ``n_relevant``. Rows with no relevant
        item get NaN metrics (left out of means), as in trec_eval.

    Raises:
        ValueError: ``ranked`` and ``relevant`` disagree in length, or ``K`` is below a cut-off.
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != len(relevant):
        raise ValueError(f"ranked has shape {ranked.shape}, expected ({len(relevant)}, K)")
    kmax = max(recall_k, ndcg_k, hit_k)
    if ranked.shape[1] < kmax:
        raise ValueError(f"ranked has {ranked.shape[1]} columns, fewer than the largest cut-off {kmax}")
    n = len(relevant)
    lengths = np.fromiter((len(r) for r in relevant), dtype=np.int64, count=n)
    rows = np.repeat(np.arange(n), lengths)
    flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in relevant]) if n and lengths.sum() else np.zeros(0, np.int64)
    # hits[i, j]: ranked[i, j] is relevant to row i (via a sorted (row, item) key lookup)
    width = int(max(ranked.max(initial=0), flat.max(initial=0))) + 2
    keys = np.sort(rows * width + flat)
    cand = np.arange(n)[:, None] * width + np.where(ranked[:, :kmax] < 0, width - 1, ranked[:, :kmax])
    pos = np.searchsorted(keys, cand)
    hits = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == cand)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    dcg = (hits[:, :ndcg_k] * disc[:ndcg_k]).sum(1)
    idcg = np.cumsum(disc[:ndcg_k])[np.clip(np.minimum(lengths, ndcg_k) - 1, 0, None)]
    empty = lengths == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                f"recall@{recall_k}": np.where(empty, np.nan, hits[:, :recall_k].sum(1) / np.maximum(lengths, 1)),
                f"ndcg@{ndcg_k}": np.where(empty, np.nan, dcg / idcg),
                f"hit@{hit_k}": np.where(empty, np.nan, hits[:, :hit_k].any(1).astype(float)),
                "n_relevant": lengths,
            }
        )
    return out


def recall_at(run: Mapping[str, Sequence[str]], qrels: pd.DataFrame, k: int = 10,
              rel_threshold: float = 2.0) -> pd.Series:
    """Per-query ``recall@k`` (index ``query_id``, NaN for a query without a relevant product), the
    definition of the module doc at any cut-off ``k``."""
    out = {}
    for qid, judged in qrels_dict(qrels).items():
        n_rel = sum(1 for g in judged.values() if g >= rel_threshold)
        top = [judged.get(str(p), 0.0) >= rel_threshold for p in list(run.get(qid, []))[:k]]
        out[qid] = sum(top) / n_rel if n_rel else float("nan")
    return pd.Series(out, name=f"recall@{k}", dtype=float)


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, n_resamples: int = 2000, level: float = 0.95,
                        seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of ``mean(a - b)`` over queries (Efron & Tibshirani 1993, ch. 16; the paired
    test of Sakai, SIGIR 2006, for IR metrics).

    Args:
        a, b: per-query values of two systems on the same queries, in the same order (NaNs dropped pairwise).

    Returns:
        ``{"mean": ..., "low": ..., "high": ..., "p_value": ..., "n": ...}``: the mean difference, the
        percentile interval at ``level`` and the two-sided bootstrap p-value (share of resampled means
        on the other side of 0, doubled, capped at 1).

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired_bootstrap_ci: {x.shape} vs {y.shape} values")
    d = (x - y)[~(np.isnan(x) | np.isnan(y))]
    if len(d) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "p_value": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_resamples, len(d)))].mean(axis=1)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    p = 2.0 * min(float((means <= 0).mean()), float((means >= 0).mean()))
    return {"mean": float(d.mean()), "low": float(lo), "high": float(hi), "p_value": min(1.0, p), "n": int(len(d))}
