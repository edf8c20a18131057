"""Learning-to-rank over the retrievers' candidates: LightGBM LambdaRank (Burges 2010; Ke et al. 2017)
with a second, multi-task objective: whether a candidate *new to the user* is bought (explore head).

Candidates per user: the union of each retriever's top ``n`` (own items, TIFU-KNN, two-tower, ALS,
co-occurrence, popularity among unseen items). Features (one row per (user, candidate)):

* familiarity: baskets holding the item / user's baskets, baskets since last bought, seen flag,
  quantity, the item's repeat rate;
* popularity: baskets and users holding the item;
* affordability: item's mean unit price / user's mean unit price (log), item discount share minus the
  user's discount share, item price minus the user's average price paid for it;
* retriever scores: TIFU-KNN, two-tower, ALS, co-occurrence;
* semantic IDs: share of the user's history items sharing the candidate's level-1 and level-1-2 prefix;
* daypart: share of the item's purchases in the target basket's daypart, weekend-share match.

Both heads share the feature rows. The ranker is fitted on the *valid* stage (targets = valid baskets,
features from train history), with users held out for early stopping, and applied to the test stage.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from discovery_pipelines.personalization.split import StageData

FEATURES = [
    "ui_share", "ui_baskets", "ui_since_last", "ui_seen", "ui_quantity", "ui_first_share", "i_repeat_rate",
    "i_baskets", "i_users", "log_price_ratio", "discount_gap", "ui_price_gap", "i_discount_share",
    "u_baskets", "u_distinct_items",
    "s_tifu_knn", "s_two_tower", "s_als", "s_cooccurrence", "rank_tifu_knn", "rank_two_tower",
    "sid_prefix1_share", "sid_prefix2_share", "daypart_share", "weekend_gap", "n_sources",
]


def candidates(lists: Mapping[str, np.ndarray], users: np.ndarray, n: Mapping[str, int]) -> pd.DataFrame:
    """Union of each retriever's top ``n[name]`` items: columns u, i, n_sources, rank_<name> (1-based, NaN
    when not in that list)."""
    parts = []
    for name, items in lists.items():
        k = int(n.get(name, 0))
        if k <= 0:
            continue
        top = items[:, :k]
        parts.append(pd.DataFrame({"u": np.repeat(users, top.shape[1]), "i": top.ravel(),
                                   f"rank_{name}": np.tile(np.arange(1, top.shape[1] + 1), len(users))}))
    df = parts[0]
    for p in parts[1:]:
        df = df.merge(p, on=["u", "i"], how="outer")
    df = df[df["i"] >= 0]
    df["n_sources"] = df[[c for c in df.columns if c.startswith("rank_")]].notna().sum(1)
    return df.reset_index(drop=True)


def gather_scores(scorer, cand: pd.DataFrame, chunk: int = 256) -> np.ndarray:
    """``scorer.score`` at each (u, i) row of ``cand`` (users scored ``chunk`` at a time)."""
    out = np.zeros(len(cand), np.float32)
    users = np.sort(cand["u"].unique())
    order = cand["u"].to_numpy()
    for s in range(0, len(users), chunk):
        us = users[s : s + chunk]
        sc = np.asarray(scorer.score(us), dtype=np.float32)
        rows = np.flatnonzero(np.isin(order, us))
        r = np.searchsorted(us, order[rows])
        out[rows] = sc[r, cand["i"].to_numpy()[rows]]
    return out


def _prefix_share(cand: pd.DataFrame, sd: StageData, codes: np.ndarray, plen: int) -> np.ndarray:
    base = int(codes.max()) + 1
    key = np.zeros(len(codes), np.int64)
    for lv in range(plen):
        key = key * base + codes[:, lv]
    h = sd.history.drop_duplicates(["u", "i"])[["u", "i"]]
    h = h.assign(k=key[h["i"].to_numpy()])
    per = h.groupby(["u", "k"]).size().rename("n").reset_index()
    tot = h.groupby("u").size().rename("tot")
    c = pd.DataFrame({"u": cand["u"].to_numpy(), "k": key[cand["i"].to_numpy()]})
    c = c.merge(per, on=["u", "k"], how="left").merge(tot, left_on="u", right_index=True, how="left")
    return (c["n"].fillna(0) / c["tot"].fillna(1).clip(lower=1)).to_numpy()


CONTEXT_COLUMNS = ["i_daypart0_share", "i_daypart1_share", "i_daypart2_share", "i_daypart3_share", "i_weekend_share"]
"""Item columns the context features are computed from (kept in the serving bundle's rows)."""


def set_context(rows: pd.DataFrame, day_of_week: np.ndarray | float, hour: np.ndarray | float) -> None:
    """Set the two basket-context features of candidate ``rows`` in place, for the basket's day of week
    (0 = Monday; NaN unknown) and hour (0-23; NaN unknown), per row or one value for all rows:

    * ``daypart_share``: share of the item's purchases in that daypart (the SQL's dayparts: before 11h,
      11-15h, 15-19h, from 19h); NaN when the hour is unknown (LightGBM's missing value);
    * ``weekend_gap``: the item's weekend share on a Saturday / Sunday, its weekday share otherwise.

    Training rows (the target basket's context), the report and served answers (the request's
    context) all go through this function.
    """
    n = len(rows)
    hour = np.broadcast_to(np.asarray(hour, dtype=float), (n,))
    dow = np.broadcast_to(np.asarray(day_of_week, dtype=float), (n,))
    with np.errstate(invalid="ignore"):
        daypart = np.select([hour < 11, hour < 15, hour < 19, hour >= 19], [0, 1, 2, 3], default=-1)
        weekend = dow >= 5
    share = rows[CONTEXT_COLUMNS[:4]].to_numpy()
    rows["daypart_share"] = np.where(daypart >= 0, share[np.arange(n), np.clip(daypart, 0, 3)], np.nan)
    rows["weekend_gap"] = np.where(weekend, rows["i_weekend_share"], 1 - rows["i_weekend_share"])


def assemble(cand: pd.DataFrame, sd: StageData, feats: Mapping[str, pd.DataFrame], scores: Mapping[str, np.ndarray],
             codes: np.ndarray) -> pd.DataFrame:
    """Feature rows for the candidates: u, i, the labels ``label`` / ``label_new`` (int) and the float32
    :data:`FEATURES` and :data:`CONTEXT_COLUMNS` (one dtype for fitting, the report and serving)."""
    df = cand.merge(feats["user_item"], on=["u", "i"], how="left")
    df = df.merge(feats["user"], on="u", how="left").merge(feats["item"], on="i", how="left")
    df = df.merge(feats["item_repeat"], on="i", how="left")
    df["ui_seen"] = df["ui_baskets"].notna().astype(float)
    df["ui_baskets"] = df["ui_baskets"].fillna(0)
    df["ui_share"] = df["ui_baskets"] / df["u_baskets"].clip(lower=1)
    df["ui_since_last"] = (df["u_last_pos"] - df["ui_last_pos"] + 1).fillna(df["u_baskets"] + 10)
    df["ui_first_share"] = ((df["u_last_pos"] - df["ui_first_pos"] + 1) / df["u_baskets"].clip(lower=1)).fillna(0)
    df["ui_quantity"] = df["ui_quantity"].fillna(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["log_price_ratio"] = np.log(df["i_avg_price"] / df["u_avg_price"])
    df["discount_gap"] = df["i_discount_share"] - df["u_discount_share"]
    df["ui_price_gap"] = df["i_avg_price"] - df["ui_avg_price"]
    for name, sc in scores.items():
        df[f"s_{name}"] = sc
    ctx = sd.target_context.set_index("u")
    df[CONTEXT_COLUMNS] = df[CONTEXT_COLUMNS].astype(np.float32)  # as served: set_context on float32 columns
    set_context(df, ctx["day_of_week"].reindex(df["u"].to_numpy()).to_numpy(dtype=float, na_value=np.nan),
                ctx["hour"].reindex(df["u"].to_numpy()).to_numpy(dtype=float, na_value=np.nan))
    df["sid_prefix1_share"] = _prefix_share(df, sd, codes, 1)
    df["sid_prefix2_share"] = _prefix_share(df, sd, codes, 2)
    for c in FEATURES:
        if c not in df:
            df[c] = np.nan
    tgt = pd.DataFrame({"u": np.repeat(sd.users, [len(t) for t in sd.targets]),
                        "i": np.concatenate(sd.targets), "label": 1})
    df = df.merge(tgt, on=["u", "i"], how="left")
    df["label"] = df["label"].fillna(0).astype(int)
    df["label_new"] = ((df["label"] == 1) & (df["ui_seen"] == 0)).astype(int)
    cols = list(dict.fromkeys(FEATURES + CONTEXT_COLUMNS))
    df[cols] = df[cols].astype(np.float32)  # the dtype the ranker is fitted, evaluated and served on
    return df.sort_values(["u", "i"]).reset_index(drop=True)


def fit_ranker(rows: pd.DataFrame, *, num_leaves: int = 31, learning_rate: float = 0.05, n_estimators: int = 400,
               min_child_samples: int = 50, valid_fraction: float = 0.2, early_stopping: int = 40, seed: int = 0,
               threads: int = 0) -> tuple[dict, dict]:
    """Fit the LambdaRank head (all candidates, groups = users) and the explore head (binary, unseen
    candidates only) on valid-stage rows; early stopping on a held-out share of users.

    Returns:
        ``({"rank": LGBMRanker, "explore": LGBMClassifier}, report)`` with best iterations and held-out
        NDCG@10 / AUC.
    """
    import lightgbm as lgb

    users = rows["u"].unique()
    rng = np.random.default_rng(seed)
    held = set(rng.choice(users, max(1, int(len(users) * valid_fraction)), replace=False))
    tr, va = rows[~rows["u"].isin(held)], rows[rows["u"].isin(held)]
    common = dict(num_leaves=num_leaves, learning_rate=learning_rate, n_estimators=n_estimators,
                  min_child_samples=min_child_samples, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                  random_state=seed, n_jobs=threads or None, verbose=-1)
    rank = lgb.LGBMRanker(objective="lambdarank", **common)
    rank.fit(tr[FEATURES], tr["label"], group=tr.groupby("u", sort=False).size().to_numpy(), eval_at=[10],
             eval_set=[(va[FEATURES], va["label"])], eval_group=[va.groupby("u", sort=False).size().to_numpy()],
             callbacks=[lgb.early_stopping(early_stopping, verbose=False)])
    trn, van = tr[tr["ui_seen"] == 0], va[va["ui_seen"] == 0]
    explore = lgb.LGBMClassifier(objective="binary", **common)
    explore.fit(trn[FEATURES], trn["label_new"], eval_set=[(van[FEATURES], van["label_new"])], eval_metric="auc",
                callbacks=[lgb.early_stopping(early_stopping, verbose=False)])
    report = {
        "rank_best_iteration": int(rank.best_iteration_ or n_estimators),
        "rank_heldout_ndcg@10": float(rank.best_score_["valid_0"]["ndcg@10"]),
        "explore_best_iteration": int(explore.best_iteration_ or n_estimators),
        "explore_heldout_auc": float(explore.best_score_["valid_0"]["auc"]),
        "train_rows": int(len(tr)), "heldout_rows": int(len(va)), "train_users": int(tr["u"].nunique()),
        "positives": int(rows["label"].sum()), "new_positives": int(rows["label_new"].sum()),
        "feature_importance_gain": dict(zip(FEATURES, map(float, rank.booster_.feature_importance("gain")))),
    }
    return {"rank": rank, "explore": explore}, report


def predict_heads(models: Mapping[str, object], rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``rank_score`` (LambdaRank) and ``p_new`` (explore head probability; 0 for seen items)."""
    out = rows.copy()
    out["rank_score"] = models["rank"].predict(rows[FEATURES])
    out["p_new"] = np.where(rows["ui_seen"] == 0, models["explore"].predict_proba(rows[FEATURES])[:, 1], 0.0)
    return out


def ranked_lists(rows: pd.DataFrame, score: str, users: np.ndarray, k: int) -> np.ndarray:
    """int64 ``(len(users), k)`` item codes by descending ``score`` per user (``-1`` pads)."""
    r = rows.sort_values(["u", score], ascending=[True, False], kind="stable")
    r = r.groupby("u").head(k)
    r["pos"] = r.groupby("u").cumcount()
    out = np.full((len(users), k), -1, np.int64)
    row = np.searchsorted(users, r["u"].to_numpy())
    out[row, r["pos"].to_numpy()] = r["i"].to_numpy()
    return out
