"""Regression gate: a candidate is promoted only if it helps on dev and does not hurt what works.

Rules (all configurable):

1. dev: ``ndcg@10(candidate) - ndcg@10(production) >= min_dev_gain``.
2. regression holdout = holdout queries that were *Good* under production:
   * Good -> Not Good flips ``<= max_flips``;
   * ``ndcg@10(production) - ndcg@10(candidate) <= max_ndcg_loss`` (mean over those queries).

Per-query flips are returned so a person can see exactly which queries broke.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def regression_gate(
    production: pd.DataFrame,
    candidate: pd.DataFrame,
    *,
    min_dev_gain: float = 0.0,
    max_flips: int = 10,
    max_ndcg_loss: float = 0.005,
    metric: str = "ndcg@10",
) -> dict[str, Any]:
    """Decide promotion from per-query results of production and candidate.

    Args:
        production, candidate: per-query frames with ``query_id``, ``text``, ``split`` (dev / holdout),
            ``metric`` and ``verdict`` (Good / Not Good), one retriever each.
        min_dev_gain: required mean dev gain of ``metric``.
        max_flips: allowed Good -> Not Good flips on the regression holdout.
        max_ndcg_loss: allowed mean loss of ``metric`` on the regression holdout.

    Returns:
        JSON-able dict: ``passed`` (bool), ``checks`` (each with value, limit, passed), ``dev``,
        ``regression_holdout`` summaries and ``flips`` (list of per-query rows).

    Raises:
        ValueError: the two frames do not cover the same queries.
    """
    key = ["split", "query_id"]
    p = production.set_index(key)
    c = candidate.set_index(key)
    if set(p.index) != set(c.index):
        raise ValueError(f"production and candidate were scored on different queries "
                         f"({len(set(p.index) ^ set(c.index))} differ)")
    c = c.loc[p.index]
    dev = p.index.get_level_values("split") == "dev"
    dev_prod, dev_cand = float(p.loc[dev, metric].mean()), float(c.loc[dev, metric].mean())
    hold = (p.index.get_level_values("split") == "holdout") & (p["verdict"] == "Good").to_numpy()
    reg_prod = float(p.loc[hold, metric].mean()) if hold.any() else 0.0
    reg_cand = float(c.loc[hold, metric].mean()) if hold.any() else 0.0
    flipped = hold & (c["verdict"] == "Not Good").to_numpy()
    flips = [
        {"query_id": qid, "text": p.loc[(s, qid), "text"], "production": float(p.loc[(s, qid), metric]),
         "candidate": float(c.loc[(s, qid), metric])}
        for (s, qid) in p.index[flipped]
    ]
    dev_gain = dev_cand - dev_prod
    loss = reg_prod - reg_cand
    checks = {
        "dev_gain": {"value": dev_gain, "limit": f">= {min_dev_gain}", "passed": dev_gain >= min_dev_gain},
        "good_to_not_good_flips": {"value": len(flips), "limit": f"<= {max_flips}", "passed": len(flips) <= max_flips},
        "regression_ndcg_loss": {"value": loss, "limit": f"<= {max_ndcg_loss}", "passed": loss <= max_ndcg_loss},
    }
    return {
        "passed": all(v["passed"] for v in checks.values()),
        "metric": metric,
        "checks": checks,
        "dev": {"production": dev_prod, "candidate": dev_cand, "n_queries": int(dev.sum())},
        "regression_holdout": {"production": reg_prod, "candidate": reg_cand, "n_queries": int(hold.sum()),
                               "n_holdout": int((p.index.get_level_values("split") == "holdout").sum())},
        "flips": flips,
    }


def choose_contender(decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Which model the gate promotes when several contenders were gated against the same production model.

    Args:
        decisions: ``{name: regression_gate(...) result}``, in order of preference on ties (today's recipe,
            ``candidate``, first).

    Returns:
        The chosen contender's decision (the first contender's when none passed) with ``chosen`` (its name,
        ``None`` when none passed) and ``contenders`` (``{name: {"passed", "dev_ndcg@10", "checks"}}``) added.
        The chosen contender is the one with the best dev ``metric`` among those that passed.

    Raises:
        ValueError: no contender.
    """
    if not decisions:
        raise ValueError("choose_contender: no contender")
    passed = [n for n, d in decisions.items() if d["passed"]]
    chosen = max(passed, key=lambda n: decisions[n]["dev"]["candidate"]) if passed else None
    out = dict(decisions[chosen or next(iter(decisions))])
    out["chosen"] = chosen
    out["contenders"] = {n: {"passed": d["passed"], f"dev_{d['metric']}": d["dev"]["candidate"], "checks": d["checks"]}
                         for n, d in decisions.items()}
    return out
