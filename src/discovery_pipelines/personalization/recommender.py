"""The serving side: a self-contained bundle (user tower, faiss index of item vectors, user histories,
popularity fallback) and :class:`Recommender`, used by ``discovery recommend`` and the HTTP route.

A known user is answered by the two-tower: the user tower over their last ``history_len`` purchases
(all baskets, the test basket included, since serving looks forward) and the basket context, then an
exact inner-product search of the item index. An unknown user gets the most popular items, labelled
``source = "popularity_cold_start"``.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.personalization import two_tower as tt

BUNDLE_VERSION = 1


def build_bundle(saved: dict, item_vectors: np.ndarray, items: pd.DataFrame,
                 split_lines: pd.DataFrame, split_users: pd.DataFrame, dataset: str, n_popular: int = 200) -> dict:
    """Everything :class:`Recommender` needs, as a picklable dict (the text buffer is dropped: item
    vectors are precomputed)."""
    import faiss

    from discovery_pipelines.search.index import build_faiss_index

    state = {k: v for k, v in saved["state_dict"].items() if k != "text"}
    ev = split_lines[["u", "basket_pos", "i"]].sort_values(["u", "basket_pos", "i"], kind="stable")
    pop = split_lines.drop_duplicates(["basket_id", "i"])["i"].value_counts()
    return {
        "version": BUNDLE_VERSION,
        "dataset": dataset,
        "config": saved["config"],
        "state_dict": state,
        "item_vectors": item_vectors.astype(np.float32),
        "faiss_index": faiss.serialize_index(build_faiss_index(item_vectors, "Flat", "ip")),
        "product_id": items["product_id"].to_numpy().astype(str),
        "title": items["title"].to_numpy().astype(str),
        "user_id": split_users["user_id"].to_numpy().astype(str),
        "events_u": ev["u"].to_numpy(np.int64),
        "events_pos": ev["basket_pos"].to_numpy(np.int64),
        "events_i": ev["i"].to_numpy(np.int64),
        "popular": pop.index.to_numpy(np.int64)[:n_popular],
        "popular_counts": pop.to_numpy(np.int64)[:n_popular],
    }


@dataclass
class Recommendation:
    """One answer: ``source`` is ``two_tower`` or ``popularity_cold_start``."""

    user_id: str
    source: str
    items: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "source": self.source, "items": self.items}


class Recommender:
    """Loaded bundle; :meth:`recommend` answers one user."""

    def __init__(self, bundle: dict) -> None:
        import faiss
        import torch

        if bundle.get("version") != BUNDLE_VERSION:
            raise ValueError(f"recommender bundle version {bundle.get('version')!r}, expected {BUNDLE_VERSION}")
        self.b = bundle
        c = bundle["config"]
        self.model = tt.TwoTower(c["n_items"], torch.zeros(c["n_items"], c["text_dim"]), dim=c["dim"], tau=c["tau"])
        missing, unexpected = self.model.load_state_dict(bundle["state_dict"], strict=False)
        if set(missing) - {"text"} or unexpected:
            raise ValueError(f"bundle weights do not fit the two-tower: missing {missing}, unexpected {unexpected}")
        self.model.eval()
        iv = bundle["item_vectors"]
        self.table = torch.cat([torch.tensor(iv), torch.zeros(1, iv.shape[1])])
        self.index = faiss.deserialize_index(bundle["faiss_index"])
        self.user_row = {u: j for j, u in enumerate(bundle["user_id"])}
        self.dataset = bundle["dataset"]
        self.events = pd.DataFrame({"u": bundle["events_u"], "basket_pos": bundle["events_pos"], "i": bundle["events_i"]})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Recommender":
        """Load a pickled bundle (``data/06_models/personalization/<dataset>/recommender.pkl``).

        Raises:
            FileNotFoundError: no bundle at ``path`` (run ``kedro run --pipeline=personalization``).
        """
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no recommender bundle at {p}; run `kedro run --pipeline=personalization` first")
        with p.open("rb") as f:
            return cls(pickle.load(f))

    def _items(self, codes: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        return [{"rank": r + 1, "product_id": str(self.b["product_id"][i]), "title": str(self.b["title"][i]),
                 "score": float(s)} for r, (i, s) in enumerate(zip(codes, scores)) if i >= 0]

    def recommend(self, user_id: str, k: int = 10, day_of_week: int | None = None, hour: int | None = None) -> Recommendation:
        """Top-``k`` products for ``user_id`` (context: day of week 0 = Monday, hour 0-23; unknown if None).

        Raises:
            ValueError: ``k`` < 1, or a context value out of range.
        """
        import torch

        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if day_of_week is not None and not 0 <= day_of_week <= 6:
            raise ValueError(f"day_of_week must be 0..6 (0 = Monday), got {day_of_week}")
        if hour is not None and not 0 <= hour <= 23:
            raise ValueError(f"hour must be 0..23, got {hour}")
        k = min(k, len(self.b["product_id"]))
        u = self.user_row.get(str(user_id))
        if u is None:
            pop = self.b["popular"][:k]
            return Recommendation(str(user_id), "popularity_cold_start",
                                  self._items(pop, self.b["popular_counts"][:k].astype(float)))
        snaps = tt.snapshots_before(
            self.events, np.array([u]), tt.next_basket_positions(self.events, np.array([u])), np.array([day_of_week if day_of_week is not None else 0]),
            np.array([np.nan if hour is None else float(hour)]), self.b["config"]["history_len"], self.b["config"]["n_items"])
        with torch.no_grad():
            uv = self.model.user_vectors(torch.tensor(snaps.hist), torch.tensor(snaps.rec), torch.tensor(snaps.dow),
                                         torch.tensor(snaps.hour), item_table=self.table).numpy()
        scores, codes = self.index.search(np.ascontiguousarray(uv, dtype=np.float32), k)
        return Recommendation(str(user_id), "two_tower", self._items(codes[0], scores[0]))
