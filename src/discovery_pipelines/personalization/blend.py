"""The final slate: familiarity, affordability and novelty blended with documented weights.

Per candidate (Seed 002's three consumer values):

* familiarity ``f``: the LambdaRank score, min-max scaled to [0, 1] within the user's candidates;
* affordability ``a``: ``0.5 * exp(-|log(item price / user's usual unit price)|) + 0.5 * item discount
  share`` (1 = priced like what the user usually pays and often on deal); 0 where the data has no prices;
* novelty ``n``: for items new to the user, the explore head's probability as a percentile among the
  user's unseen candidates; 0 for items bought before.

``blend = w_f * f + w_a * a + w_n * n`` orders the slate. ``explore_slots`` of the positions after
``explore_after`` (by default ranks 11-20, below the NDCG@10 window) are reserved for the best unseen
items by the explore head, so a slate keeps room for discovery without pushing favourites out of the
top 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BlendWeights:
    """Weights of the three values and the explore quota (see the module docstring)."""

    familiarity: float = 1.0
    affordability: float = 0.05
    novelty: float = 0.0
    explore_slots: int = 5
    explore_after: int = 10


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


def blend_slate(rows: pd.DataFrame, users: np.ndarray, w: BlendWeights, k: int = 20) -> np.ndarray:
    """int64 ``(len(users), k)`` slates (``-1`` pads) from rows carrying the ``v_*`` columns."""
    r = rows.assign(blend=w.familiarity * rows["v_familiarity"] + w.affordability * rows["v_affordability"]
                    + w.novelty * rows["v_novelty"])
    r = r.sort_values(["u", "blend"], ascending=[True, False], kind="stable")
    out = np.full((len(users), k), -1, np.int64)
    row_of = {int(u): j for j, u in enumerate(users)}
    slots = min(w.explore_slots, max(k - w.explore_after, 0))
    for u, g in r.groupby("u", sort=False):
        items = g["i"].to_numpy()
        head = list(items[: w.explore_after])
        if slots:
            taken = set(head)
            ex = g[(g["ui_seen"] == 0)].sort_values("p_new", ascending=False)["i"].to_numpy()
            ex = [i for i in ex if i not in taken][:slots]
            taken.update(ex)
            rest = [i for i in items[w.explore_after:] if i not in taken][: k - len(head) - len(ex)]
            tail = ex + rest
        else:
            tail = list(items[w.explore_after : k])
        sl = (head + tail)[:k]
        out[row_of[int(u)], : len(sl)] = sl
    return out
