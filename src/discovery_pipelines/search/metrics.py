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


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, samples: int = 1000, seed: int = 13,
                     level: float = 0.95) -> dict[str, float]:
    """Paired bootstrap of the mean difference ``mean(a - b)`` over queries (Efron & Tibshirani 1993;
    for IR evaluation Sakai 2006, "Evaluating evaluation metrics based on the bootstrap").

    Args:
        a, b: per-query values of two systems on the same queries, same order (e.g. nDCG@10).
        samples: bootstrap resamples of the queries (with replacement).
        level: two-sided confidence level of the percentile interval.

    Returns:
        ``{"delta", "ci_low", "ci_high", "p_le_0"}``: observed mean difference, percentile interval, and
        the share of resamples with a difference <= 0 (a one-sided bootstrap p-value for "a > b").

    Raises:
        ValueError: different lengths or no queries.
    """
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"paired_bootstrap needs two equal, non-empty arrays (got {len(a)} and {len(b)})")
    x = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(int(samples), x.size))].mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 100 - 50 * (1 - level)])
    return {"delta": float(x.mean()), "ci_low": float(lo), "ci_high": float(hi), "p_le_0": float((means <= 0).mean())}
