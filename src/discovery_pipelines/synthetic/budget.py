"""Split a total synthetic-pair budget across failure groups and languages.

weight(g, l) = not_good_rate(g) * max(gap(g), gap_floor) * group_factor(g)
               * language_share(l) * language_factor(l)

with gap = 1 - coverage (see :mod:`discovery_pipelines.failure_analysis.analysis`). The total is split in
proportion to the weights with the largest-remainder (Hamilton) method, so the cells sum exactly to
``total``. Groups with fewer than ``min_queries`` dev queries or no Not-Good query get nothing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import pandas as pd

BUDGET_COLUMNS = ["group", "language", "not_good_rate", "coverage", "gap", "group_factor", "language_factor",
                  "weight", "share", "n_pairs"]


def largest_remainder(weights: list[float], total: int) -> list[int]:
    """Integer apportionment of ``total`` proportional to ``weights`` (Hamilton's method).

    Raises:
        ValueError: negative weight or total.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError(f"total and weights must be >= 0 (total={total}, min weight={min(weights, default=0)})")
    s = sum(weights)
    if s == 0 or total == 0:
        return [0] * len(weights)
    quotas = [w * total / s for w in weights]
    base = [math.floor(q) for q in quotas]
    left = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return base


def allocate_budget(
    stats: pd.DataFrame,
    total: int,
    *,
    languages: Mapping[str, float] | None = None,
    group_factors: Mapping[str, float] | None = None,
    language_factors: Mapping[str, float] | None = None,
    gap_floor: float = 0.1,
    min_queries: int = 5,
    exclude_groups: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Budget table, one row per (group, language) with ``n_pairs`` summing to ``total``.

    Args:
        stats: failure-group stats (columns group, n_queries, n_not_good, not_good_rate, coverage).
        total: pairs to generate (accepted-pair target).
        languages: ``{language: share of catalogue}``; default ``{"en": 1.0}``.
        group_factors / language_factors: oversampling multipliers, default 1.0 (e.g. ``{"fi": 1.5}``).
        gap_floor: lower bound of the coverage gap, so a fully covered but failing group still gets pairs.

    Raises:
        ValueError: missing stats columns, or a factor / share below 0.
    """
    need = {"group", "n_queries", "n_not_good", "not_good_rate", "coverage"}
    if not need <= set(stats.columns):
        raise ValueError(f"failure group stats: missing columns {sorted(need - set(stats.columns))}")
    languages = dict(languages or {"en": 1.0})
    gf, lf = dict(group_factors or {}), dict(language_factors or {})
    for name, d in (("languages", languages), ("group_factors", gf), ("language_factors", lf)):
        bad = {k: v for k, v in d.items() if float(v) < 0}
        if bad:
            raise ValueError(f"synthetic budget: {name} must be >= 0, got {bad}")
    rows = []
    for r in stats.itertuples(index=False):
        if r.n_queries < min_queries or r.n_not_good == 0 or r.group in exclude_groups:
            continue
        gap = 1.0 - float(r.coverage)
        for lang, share in languages.items():
            w = float(r.not_good_rate) * max(gap, gap_floor) * float(gf.get(r.group, 1.0)) \
                * float(share) * float(lf.get(lang, 1.0))
            rows.append({"group": r.group, "language": lang, "not_good_rate": float(r.not_good_rate),
                         "coverage": float(r.coverage), "gap": gap, "group_factor": float(gf.get(r.group, 1.0)),
                         "language_factor": float(lf.get(lang, 1.0)), "weight": w})
    df = pd.DataFrame(rows, columns=BUDGET_COLUMNS[:-2])
    if df.empty:
        return pd.DataFrame(columns=BUDGET_COLUMNS)
    df["share"] = df["weight"] / df["weight"].sum() if df["weight"].sum() > 0 else 0.0
    df["n_pairs"] = largest_remainder(df["weight"].tolist(), int(total))
    return df.sort_values(["n_pairs", "group"], ascending=[False, True]).reset_index(drop=True)


def print_budget(budget: pd.DataFrame, title: str = "Synthetic pair budget", echo: bool = True) -> str:
    """Render the budget as a rich table on stdout (when ``echo``); returns the plain-text rendering."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c, j in (("group", "left"), ("language", "left"), ("not_good_rate", "right"), ("coverage", "right"),
                 ("group_factor", "right"), ("language_factor", "right"), ("share", "right"), ("n_pairs", "right")):
        t.add_column(c, justify=j)
    for r in budget.itertuples(index=False):
        t.add_row(r.group, r.language, f"{r.not_good_rate:.3f}", f"{r.coverage:.3f}", f"{r.group_factor:g}",
                  f"{r.language_factor:g}", f"{r.share:.3f}", str(r.n_pairs))
    t.add_row("total", "", "", "", "", "", "", str(int(budget["n_pairs"].sum()) if len(budget) else 0))
    if echo:
        Console(width=max(120, Console().width)).print(t)
    rec = Console(record=True, width=120, file=io.StringIO())
    rec.print(t)
    return rec.export_text()
