"""The serving side: a self-contained bundle and :class:`Recommender`, used by ``discovery recommend``
and the HTTP route.

A known user is answered by the **full stack** (``source = "full_stack"``), the model the report
measures as ``full_stack``: the pipeline's ``serve`` stage (every basket of the user, since serving looks
forward) built the user's candidate rows from all retrievers with their features; at request time the
basket-context features are set for the request's day of week / hour (the user's usual ones when not
given, :func:`~discovery_pipelines.personalization.split.modal_context`), both LightGBM heads score the
rows, and :func:`~discovery_pipelines.personalization.blend.blend_slate` orders the slate with the
pipeline's blend weights and explore slots. The same three functions make the report's slates, so a
bundle built on the test stage answers exactly the report's ``full_stack`` lists (tested).

``model="two_tower"`` answers from the two-tower alone: the user tower over the last ``history_len``
purchases and the basket context, then an exact inner-product search of the item index. An unknown user
gets the most popular items, labelled ``source = "popularity_cold_start"``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.personalization import blend as bd
from discovery_pipelines.personalization import ranker as rk
from discovery_pipelines.personalization import two_tower as tt

BUNDLE_VERSION = 2
MODELS = ("full_stack", "two_tower")


def build_bundle(saved: dict, item_vectors: np.ndarray, items: pd.DataFrame,
                 split_lines: pd.DataFrame, split_users: pd.DataFrame, dataset: str, n_popular: int = 200,
                 full_stack: dict | None = None) -> dict:
    """Everything :class:`Recommender` needs, as a picklable dict (the text buffer is dropped: item
    vectors are precomputed).

    Args:
        full_stack: the stack the known users are answered by: ``models`` (:func:`~discovery_pipelines.personalization.ranker.fit_ranker`'s
            heads), ``rows`` (candidate rows of :func:`~discovery_pipelines.personalization.ranker.assemble`),
            ``users`` (sorted int user codes the rows and explore list belong to), ``explore`` (int
            ``(len(users), K)`` explore list), ``weights`` (:class:`~discovery_pipelines.personalization.blend.BlendWeights`),
            ``context`` (``u, day_of_week, hour`` default basket context per user). ``None``: two-tower only.
    """
    import faiss

    from discovery_pipelines.search.index import build_faiss_index

    state = {k: v for k, v in saved["state_dict"].items() if k != "text"}
    ev = split_lines[["u", "basket_pos", "i"]].sort_values(["u", "basket_pos", "i"], kind="stable")
    pop = split_lines.drop_duplicates(["basket_id", "i"])["i"].value_counts()
    bundle = {
        "version": BUNDLE_VERSION,
        "dataset": dataset,
        "config": saved["config"],
        "state_dict": state,
        "item_vectors": item_vectors.astype(np.float32),
        "faiss_index": faiss.serialize_index(build_faiss_index(item_vectors, "Flat", "ip")),
        "product_id": items["product_id"].to_numpy().astype(str),
        "title": items["title"].to_numpy().astype(str),
        "user_id": split_users["user_id"].to_numpy().astype(str),
        "events_u": ev["u"].to_numpy(np.int32),
        "events_pos": ev["basket_pos"].to_numpy(np.int32),
        "events_i": ev["i"].to_numpy(np.int32),
        "popular": pop.index.to_numpy(np.int64)[:n_popular],
        "popular_counts": pop.to_numpy(np.int64)[:n_popular],
        "full_stack": None,
    }
    if full_stack is not None:
        users = np.asarray(full_stack["users"], np.int64)
        cols = ["u", "i", *dict.fromkeys(rk.FEATURES + rk.CONTEXT_COLUMNS)]
        rows = full_stack["rows"][cols].sort_values(["u", "i"], kind="stable").reset_index(drop=True)
        ctx = full_stack["context"].set_index("u").reindex(users)
        bundle["full_stack"] = {
            "models": full_stack["models"], "rows": rows, "users": users,
            "offsets": np.searchsorted(rows["u"].to_numpy(), np.append(users, users.max(initial=-1) + 1)),
            "explore": np.asarray(full_stack["explore"], np.int64),
            "weights": dataclasses.asdict(full_stack["weights"]),
            "day_of_week": ctx["day_of_week"].to_numpy(dtype=float, na_value=np.nan),
            "hour": ctx["hour"].to_numpy(dtype=float, na_value=np.nan),
        }
    return bundle


@dataclass
class Recommendation:
    """One answer: ``source`` is ``full_stack``, ``two_tower`` or ``popularity_cold_start``; each item
    has ``rank``, ``product_id``, ``title``, ``score`` (the blend score, the inner product, or the
    basket count; ``None`` for an explore-slot item the ranker did not score) and ``slot`` (``ranked``
    or ``explore``)."""

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
        self.events = pd.DataFrame({c: bundle[f"events_{k}"].astype(np.int64)
                                    for c, k in (("u", "u"), ("basket_pos", "pos"), ("i", "i"))})

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

    def _items(self, codes: np.ndarray, scores: np.ndarray, slots: list[str] | None = None) -> list[dict[str, Any]]:
        out = []
        for r, (i, sc) in enumerate(zip(codes, scores)):
            if i < 0:
                continue
            out.append({"rank": len(out) + 1, "product_id": str(self.b["product_id"][i]), "title": str(self.b["title"][i]),
                        "score": None if np.isnan(sc) else float(sc), "slot": slots[r] if slots else "ranked"})
        return out

    def _stack_row(self, u: int) -> int | None:
        """Row of user code ``u`` in the bundle's full stack, ``None`` when the stack does not hold it."""
        fs = self.b["full_stack"]
        if fs is None:
            return None
        j = int(np.searchsorted(fs["users"], u))
        return j if j < len(fs["users"]) and fs["users"][j] == u else None

    def context(self, u: int, day_of_week: int | None, hour: int | None) -> tuple[float, float]:
        """The basket context used for user code ``u``: the request's values, else the user's usual day
        of week / hour from the bundle (NaN when unknown)."""
        j, fs = self._stack_row(u), self.b["full_stack"]
        dow = float(day_of_week) if day_of_week is not None else (fs["day_of_week"][j] if j is not None else np.nan)
        hr = float(hour) if hour is not None else (fs["hour"][j] if j is not None else np.nan)
        return dow, hr

    def recommend(self, user_id: str, k: int = 10, day_of_week: int | None = None, hour: int | None = None,
                  model: str = "full_stack") -> Recommendation:
        """Top-``k`` products for ``user_id`` (context: day of week 0 = Monday, hour 0-23; the user's usual
        ones if None) from ``model`` (``full_stack`` or ``two_tower``). A known user the bundle has no
        full-stack rows for is answered by the two-tower.

        Raises:
            ValueError: ``k`` < 1, a context value out of range, or an unknown ``model``.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if day_of_week is not None and not 0 <= day_of_week <= 6:
            raise ValueError(f"day_of_week must be 0..6 (0 = Monday), got {day_of_week}")
        if hour is not None and not 0 <= hour <= 23:
            raise ValueError(f"hour must be 0..23, got {hour}")
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        k = min(k, len(self.b["product_id"]))
        u = self.user_row.get(str(user_id))
        if u is None:
            pop = self.b["popular"][:k]
            return Recommendation(str(user_id), "popularity_cold_start",
                                  self._items(pop, self.b["popular_counts"][:k].astype(float)))
        dow, hr = self.context(u, day_of_week, hour)
        j = self._stack_row(u)
        if model == "full_stack" and j is not None and self.b["full_stack"]["offsets"][j + 1] > self.b["full_stack"]["offsets"][j]:
            return self._full_stack(str(user_id), u, j, k, dow, hr)
        return self._two_tower(str(user_id), u, k, dow, hr)

    def _full_stack(self, user_id: str, u: int, j: int, k: int, dow: float, hour: float) -> Recommendation:
        fs = self.b["full_stack"]
        rows = fs["rows"].iloc[fs["offsets"][j]:fs["offsets"][j + 1]].copy()
        rk.set_context(rows, dow, hour)
        scored = bd.value_columns(rk.predict_heads(fs["models"], rows))
        w = bd.BlendWeights(**fs["weights"])
        slate = bd.blend_slate(scored, np.array([u]), w, fs["explore"][j : j + 1], k=k)[0]
        score = pd.Series(bd.blend_scores(scored, w).to_numpy(), index=scored["i"].to_numpy())
        a = min(w.explore_after, k)
        listed = set(fs["explore"][j].tolist())
        slots = ["explore" if a <= r < a + w.explore_slots and i in listed else "ranked" for r, i in enumerate(slate)]
        return Recommendation(user_id, "full_stack",
                              self._items(slate, score.reindex(slate).to_numpy(dtype=float, na_value=np.nan), slots))

    def _two_tower(self, user_id: str, u: int, k: int, dow: float, hour: float) -> Recommendation:
        import torch

        snaps = tt.snapshots_before(
            self.events, np.array([u]), tt.next_basket_positions(self.events, np.array([u])),
            np.array([0 if np.isnan(dow) else int(dow)]), np.array([hour]), self.b["config"]["history_len"],
            self.b["config"]["n_items"])
        with torch.no_grad():
            uv = self.model.user_vectors(torch.tensor(snaps.hist), torch.tensor(snaps.rec), torch.tensor(snaps.dow),
                                         torch.tensor(snaps.hour), item_table=self.table).numpy()
        scores, codes = self.index.search(np.ascontiguousarray(uv, dtype=np.float32), k)
        return Recommendation(user_id, "two_tower", self._items(codes[0], scores[0]))
