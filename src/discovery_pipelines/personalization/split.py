"""Leave-last-basket split per user and the integer-coded interaction tables the models share.

Protocol (the one next-basket studies use, e.g. Hu et al. SIGIR 2020; Li et al. RecSys 2023): per user,
baskets ordered by time (ties by basket_id); the last basket is ``test``, the one before ``valid``,
everything earlier ``train``. Users with fewer than ``min_baskets`` baskets keep all their baskets in
``train`` (they still shape popularity, co-occurrence and the embeddings) and are *reported* with
status ``too_few_baskets``, never silently removed.

Two evaluation *stages* reuse one code path:

``valid``  history = train baskets,          target = the valid basket (model selection, ranker fit)
``test``   history = train + valid baskets,  target = the test basket (reported figures only)

and one forward-looking stage for serving, built by the same code path but never scored:

``serve``  history = every basket of every user (too-few-baskets users included), no target; the
           assumed next-basket context is the user's most frequent day of week and hour
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

Stage = Literal["valid", "test", "serve"]
STAGES: tuple[Stage, ...] = ("valid", "test")
"""The evaluation stages (they have target baskets)."""
SERVE: Stage = "serve"
ALL_STAGES: tuple[Stage, ...] = (*STAGES, SERVE)
"""Evaluation stages plus the serving stage: what the candidate-producing nodes compute."""


def split_last_baskets(lines: pd.DataFrame, min_baskets: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``split`` (train | valid | test), ``basket_pos`` (0-based per user) and int codes.

    Args:
        lines: histories ``lines`` (:mod:`discovery_pipelines.data.histories`).
        min_baskets: users with fewer baskets are not evaluated (all their baskets are ``train``).

    Returns:
        ``(lines, users)``: lines with ``u`` (user code), ``i`` (item code), ``split``, ``basket_pos``,
        ``n_baskets``; users with user_id, u, n_baskets, status (``evaluated`` | ``too_few_baskets``).
        Codes follow sorted user / product ids.

    Raises:
        ValueError: ``min_baskets`` < 3 (a user needs train, valid and test baskets).
    """
    if min_baskets < 3:
        raise ValueError(f"min_baskets must be >= 3 (train, valid, test), got {min_baskets}")
    b = lines[["user_id", "basket_id", "timestamp"]].drop_duplicates("basket_id")
    b = b.sort_values(["user_id", "timestamp", "basket_id"], kind="stable")
    b["basket_pos"] = b.groupby("user_id").cumcount()
    b["n_baskets"] = b.groupby("user_id")["basket_id"].transform("size")
    back = b["n_baskets"] - 1 - b["basket_pos"]
    ok = b["n_baskets"] >= min_baskets
    b["split"] = np.where(ok & (back == 0), "test", np.where(ok & (back == 1), "valid", "train"))
    out = lines.merge(b[["basket_id", "basket_pos", "n_baskets", "split"]], on="basket_id", how="left")
    users = b.groupby("user_id", as_index=False)["n_baskets"].first()
    users["status"] = np.where(users["n_baskets"] >= min_baskets, "evaluated", "too_few_baskets")
    users["u"] = np.arange(len(users))
    items = np.sort(out["product_id"].unique())
    out["u"] = out["user_id"].map(dict(zip(users["user_id"], users["u"]))).astype(np.int64)
    out["i"] = pd.Index(items).get_indexer(out["product_id"]).astype(np.int64)
    out = out.sort_values(["u", "basket_pos", "i"], kind="stable").reset_index(drop=True)
    return out, users


@dataclass
class StageData:
    """History and targets of one stage.

    Attributes:
        stage: ``valid``, ``test`` or ``serve`` (no targets: every ``targets`` entry is empty).
        history: lines the models may use (train, plus valid for the test stage).
        users: int array of evaluated user codes (sorted).
        targets: per evaluated user, the distinct item codes of the target basket (int64 arrays).
        target_context: per evaluated user (column ``u``), the target basket's day_of_week, hour and
            timestamp (context features); on ``serve`` the user's modal day of week and hour.
        seen: per evaluated user, the distinct item codes in the user's history.
        n_users, n_items: code ranges.
    """

    stage: Stage
    history: pd.DataFrame
    users: np.ndarray
    targets: list[np.ndarray]
    target_context: pd.DataFrame
    seen: list[np.ndarray]
    n_users: int
    n_items: int

    def user_item_counts(self, weight: str = "baskets") -> sp.csr_matrix:
        """Sparse ``(n_users, n_items)`` float32: number of history baskets holding the item."""
        h = self.history.drop_duplicates(["u", "basket_id", "i"])
        return sp.csr_matrix(
            (np.ones(len(h), np.float32), (h["u"].to_numpy(), h["i"].to_numpy())), shape=(self.n_users, self.n_items)
        )

    def repeat_explore(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Targets split into repeat items (in the user's history) and explore items (new to the user)."""
        rep, exp = [], []
        for t, s in zip(self.targets, self.seen):
            m = np.isin(t, s)
            rep.append(t[m])
            exp.append(t[~m])
        return rep, exp


def stage_data(lines: pd.DataFrame, stage: Stage) -> StageData:
    """Build :class:`StageData` for ``stage`` from :func:`split_last_baskets` output.

    Raises:
        ValueError: unknown stage or no evaluated user.
    """
    if stage not in ALL_STAGES:
        raise ValueError(f"stage must be one of {ALL_STAGES}, got {stage!r}")
    n_users, n_items = int(lines["u"].max()) + 1, int(lines["i"].max()) + 1
    empty = np.zeros(0, np.int64)
    if stage == SERVE:
        users = np.sort(lines["u"].unique())
        hs = lines.drop_duplicates(["u", "i"]).groupby("u")["i"].apply(lambda s: np.sort(s.to_numpy()))
        return StageData(stage=stage, history=lines, users=users, targets=[empty] * len(users),
                         target_context=modal_context(lines, users), seen=[hs.loc[u] for u in users],
                         n_users=n_users, n_items=n_items)
    hist_splits = ("train",) if stage == "valid" else ("train", "valid")
    history = lines[lines["split"].isin(hist_splits)]
    tgt = lines[lines["split"] == stage]
    if tgt.empty:
        raise ValueError(f"no {stage} baskets: every user has fewer baskets than min_baskets")
    users = np.sort(tgt["u"].unique())
    tg = tgt.drop_duplicates(["u", "i"]).groupby("u")["i"].apply(lambda s: np.sort(s.to_numpy()))
    ctx = tgt.drop_duplicates("u").set_index("u").loc[users, ["day_of_week", "hour", "timestamp"]].reset_index()
    hs = history[history["u"].isin(users)].drop_duplicates(["u", "i"]).groupby("u")["i"].apply(
        lambda s: np.sort(s.to_numpy()))
    return StageData(
        stage=stage,
        history=history,
        users=users,
        targets=[tg.loc[u] for u in users],
        target_context=ctx,
        seen=[hs.get(u, empty) for u in users],
        n_users=n_users,
        n_items=n_items,
    )


def modal_context(lines: pd.DataFrame, users: np.ndarray) -> pd.DataFrame:
    """The assumed context of each user's *next* basket: their most frequent day of week and hour over
    their baskets (ties: the smaller value; NaN hour where the data has none), timestamp = their last.

    Returns:
        DataFrame ``u, day_of_week, hour, timestamp``, one row per entry of ``users`` (same order).
    """
    b = lines.drop_duplicates("basket_id")[["u", "day_of_week", "hour", "timestamp"]]

    def mode(col: str) -> pd.Series:
        c = b.dropna(subset=[col]).groupby(["u", col]).size().rename("n").reset_index()
        c = c.sort_values(["u", "n", col], ascending=[True, False, True], kind="stable")
        return c.drop_duplicates("u").set_index("u")[col]

    out = pd.DataFrame({"u": users})
    out["day_of_week"] = mode("day_of_week").reindex(users).array
    out["hour"] = mode("hour").reindex(users).array
    out["timestamp"] = b.groupby("u")["timestamp"].max().reindex(users).to_numpy()
    return out
