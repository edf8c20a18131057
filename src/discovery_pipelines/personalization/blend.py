"""The final slate: familiarity, affordability and novelty blended with documented weights.

Per candidate (Seed 002's three consumer values):

* familiarity ``f``: the LambdaRank score, min-max scaled to [0, 1] within the user's candidates;
* affordability ``a``: ``0.5 * exp(-|log(item price / user's usual unit price)|) + 0.5 * item discount
  share`` (1 = priced like what the user usually pays and often on deal); 0 where the data has no prices;
* novelty ``n``: for items new to the user, the explore head's probability as a percentile among the
  user's unseen candidates; 0 for items bought before.

``blend = w_f * f + w_a * a + w_n * n`` orders the slate. ``explore_slots`` positions right after the
first ``explore_after`` (by default ranks 11-20, below the NDCG@10 window) are reserved for items new to
the user, taken in order from an explore generator's ranked list (:mod:`discovery_pipelines.personalization.explore`,
or the explore head's ``p_new`` order), so a slate keeps room for discovery without pushing favourites
out of the top ``explore_after``. ``explore_after`` < 10 also hands the weak tail of the top 10 to
explore items (trading NDCG@10 for explore recall; the report's trade-off curve shows by how much).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from discovery_pipelines.personalization.params import BlendParams


@dataclass(frozen=True)
class BlendWeights:
    """Weights of the three values and the explore quota (see the module docstring)."""

    familiarity: float = 1.0
    affordability: float = 0.05
    novelty: float = 0.0
    explore_slots: int = 5
    explore_after: int = 10


def weights_from_params(b: BlendParams, **over: float) -> BlendWeights:
    """The :class:`BlendWeights` of the ``blend`` parameters, with any field overridden by ``over`` (the
    report's sweeps and trade-off points; the served bundle takes them as configured)."""
    base = dict(familiarity=b.familiarity, affordability=b.affordability, novelty=b.novelty,
                explore_slots=b.explore_slots, explore_after=b.explore_after)
    base.update(over)
    base["explore_slots"] = int(base["explore_slots"])
    return BlendWeights(**base)


def value_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``v_familiarity``, ``v_affordability``, ``v_novelty`` (each in [0, 1]) to ranked candidate rows."""
    out = rows.copy()
    g = out.groupby("u")["rank_score"]
    lo, hi = g.transform("min"), g.transform("max")
    out["v_familiarity"] = ((out["rank_score"] - lo) / (hi - lo).replace(0, 1)).fillna(0)
    aff = 0.5 * np.exp(-np.abs(out["log_price_ratio"])) + 0.5 * out["i_discount_share"]
    out["v_affordability"] = aff.fillna(0).clip(0, 1)
    unseen = out["ui_seen"] == 0
    pct = out[unseen].groupby("u")["p_new"].rank(pct=True)
    out["v_novelty"] = 0.0
    out.loc[unseen, "v_novelty"] = pct
    return out


def _without(rows: pd.DataFrame, drop: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (columns ``u, i``) minus the ``(u, i)`` pairs present in ``drop``, order kept."""
    m = rows.merge(drop[["u", "i"]], on=["u", "i"], how="left", indicator=True)
    return m[m["_merge"] == "left_only"].drop(columns="_merge")


def blend_scores(rows: pd.DataFrame, w: BlendWeights) -> pd.Series:
    """``w_f * v_familiarity + w_a * v_affordability + w_n * v_novelty`` per row (float, higher first)."""
    return w.familiarity * rows["v_familiarity"] + w.affordability * rows["v_affordability"] + w.novelty * rows["v_novelty"]


def blend_slate(rows: pd.DataFrame, users: np.ndarray, w: BlendWeights, explore: np.ndarray | None = None,
                k: int = 20) -> np.ndarray:
    """int64 ``(len(users), k)`` slates (``-1`` pads) from rows carrying the ``v_*`` columns.

    Positions ``0 .. explore_after-1``: the candidates by blend score. The next ``explore_slots``
    positions: the first items of ``explore`` (int ``(len(users), K)``, row = user in ``users``, best
    first, ``-1`` pads; items bought before should not be in it) that are not already placed. The rest:
    the remaining candidates by blend score. Without ``explore``, the user's unseen candidates by the
    explore head's ``p_new`` fill the explore slots.
    """
    r = rows.assign(blend=blend_scores(rows, w))
    r = r.sort_values(["u", "blend"], ascending=[True, False], kind="stable")
    r["rank_b"] = r.groupby("u").cumcount()
    a = min(w.explore_after, k)
    slots = min(w.explore_slots, max(k - a, 0))
    head = r[r["rank_b"] < a].assign(pos=lambda d: d["rank_b"])[["u", "i", "pos"]]
    tail = r[r["rank_b"] >= a][["u", "i"]]
    if explore is None:
        new = r[(r["rank_b"] >= a) & (r["ui_seen"] == 0)].sort_values(["u", "p_new"], ascending=[True, False],
                                                                      kind="stable")[["u", "i"]]
    else:
        new = pd.DataFrame({"u": np.repeat(users, explore.shape[1]), "i": explore.ravel()})
        new = new[new["i"] >= 0]
        new = _without(new, head)
    new = new.drop_duplicates(["u", "i"])
    ex = new[new.groupby("u").cumcount() < slots]
    ex = ex.assign(pos=a + ex.groupby("u").cumcount())
    n_ex = ex.groupby("u").size()
    rest = _without(tail, ex)
    rest = rest.assign(pos=a + rest["u"].map(n_ex).fillna(0).astype(int).to_numpy() + rest.groupby("u").cumcount().to_numpy())
    slate = pd.concat([head, ex, rest])
    slate = slate[slate["pos"] < k]
    out = np.full((len(users), k), -1, np.int64)
    row = np.searchsorted(users, slate["u"].to_numpy())
    ok = (row < len(users)) & (users[np.minimum(row, len(users) - 1)] == slate["u"].to_numpy())
    out[row[ok], slate["pos"].to_numpy()[ok]] = slate["i"].to_numpy()[ok]
    return out
