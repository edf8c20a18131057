"""Evaluation of next-basket slates: overall / repeat / explore metrics, affordability, coverage and
paired bootstrap confidence intervals.

Per user (one test basket each): Recall@20, NDCG@10 and hit-rate@10 against the distinct products of the
target basket (:func:`discovery_pipelines.search.metrics.binary_topk_metrics`), then the same metrics
against only the *repeat* items (bought before by the user) and only the *explore* items (new to the
user), since a model can win overall by repeating (Li et al., TOIS 2023). Users with no repeat (or no
explore) item are left out of that mean. Affordability compares the mean unit price and the share of
discounted items of the recommended top-10 with what the users bought; coverage is the share of the
items with history that appear in anyone's top-10.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from discovery_pipelines.personalization.split import StageData
from discovery_pipelines.search.metrics import binary_topk_metrics, paired_bootstrap_ci

METRICS = ("recall@20", "ndcg@10", "hit@10")
SEGMENTS = ("all", "repeat", "explore")


def per_user_metrics(ranked: np.ndarray, sd: StageData) -> pd.DataFrame:
    """One row per evaluated user: ``{segment}_{metric}`` for the segments all / repeat / explore.

    Args:
        ranked: int ``(len(sd.users), K >= 20)`` item codes, best first.
    """
    rep, exp = sd.repeat_explore()
    out = pd.DataFrame({"u": sd.users})
    for seg, rel in zip(SEGMENTS, (sd.targets, rep, exp)):
        m = binary_topk_metrics(ranked, rel, recall_k=20, ndcg_k=10, hit_k=10)
        for c in METRICS:
            out[f"{seg}_{c}"] = m[c].to_numpy()
    return out


def summarize(per_user: pd.DataFrame) -> dict[str, float]:
    """NaN-skipping means of every metric column, plus the user counts per segment."""
    out = {c: float(np.nanmean(per_user[c])) for c in per_user.columns if c != "u"}
    out["n_users"] = int(len(per_user))
    for seg in SEGMENTS[1:]:
        out[f"n_users_{seg}"] = int(per_user[f"{seg}_recall@20"].notna().sum())
    return out


def item_prices(history: pd.DataFrame, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Median unit price (NaN where unknown) and discount share (lines with discount > 0) per item code."""
    g = history.groupby("i")
    price = np.full(n_items, np.nan, np.float32)
    disc = np.full(n_items, np.nan, np.float32)
    if history["price"].notna().any():
        med = g["price"].median()
        price[med.index.to_numpy()] = med.to_numpy()
    if history["discount"].notna().any():
        share = g["discount"].apply(lambda s: float((s.fillna(0) > 0).mean()))
        disc[share.index.to_numpy()] = share.to_numpy()
    return price, disc


def affordability(ranked: np.ndarray, sd: StageData, price: np.ndarray, disc: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean unit price and discounted-item share of the recommended top-``k`` vs the bought target items.

    NaN when the dataset has no prices (e.g. Instacart).
    """
    rec = ranked[:, :k].ravel()
    bought = np.concatenate(sd.targets)
    with np.errstate(all="ignore"):
        return {
            "rec_mean_price": float(np.nanmean(price[rec])) if np.isfinite(price).any() else float("nan"),
            "bought_mean_price": float(np.nanmean(price[bought])) if np.isfinite(price).any() else float("nan"),
            "rec_discount_share": float(np.nanmean(disc[rec])) if np.isfinite(disc).any() else float("nan"),
            "bought_discount_share": float(np.nanmean(disc[bought])) if np.isfinite(disc).any() else float("nan"),
        }


def coverage(ranked: np.ndarray, sd: StageData, k: int = 10) -> float:
    """Distinct items in all users' top-``k`` / items with history."""
    n_hist = sd.history["i"].nunique()
    return float(np.unique(ranked[:, :k]).size / max(n_hist, 1))


def evaluate_model(ranked: np.ndarray, sd: StageData, price: np.ndarray, disc: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """All figures of one model on one stage: ``(summary dict, per-user metrics)``."""
    pu = per_user_metrics(ranked, sd)
    s = summarize(pu)
    s.update(affordability(ranked, sd, price, disc))
    s["coverage@10"] = coverage(ranked, sd)
    return s, pu


def compare_to(per_user: Mapping[str, pd.DataFrame], reference: str, columns: tuple[str, ...] = (
        "all_ndcg@10", "all_recall@20", "explore_recall@20"), n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap CIs (:func:`~discovery_pipelines.search.metrics.paired_bootstrap_ci`, users as the
    resampled unit) of every model minus ``reference`` on ``columns``: model -> column -> {mean, low, high,
    p_value, n}."""
    ref = per_user[reference].set_index("u")
    out: dict = {}
    for name, pu in per_user.items():
        if name == reference:
            continue
        p = pu.set_index("u").loc[ref.index]
        out[name] = {c: paired_bootstrap_ci(p[c].to_numpy(), ref[c].to_numpy(), n_resamples=n_boot, seed=seed)
                     for c in columns}
    return out
