"""HTTP route for personalised recommendations (issue #17), a separate router mounted by
:func:`discovery_pipelines.serve.api.create_app` when a recommender bundle is configured.

``GET /recommend?user=<id>&k=10[&day_of_week=0..6&hour=0..23&model=full_stack|two_tower]`` -> the full
stack's answer (ranker + blend + explore slots) for a known user (``model=two_tower``: the two-tower
alone), or the popularity answer labelled ``popularity_cold_start`` for an unknown one.
Bundle: ``$DISCOVERY_RECOMMENDER`` (default ``data/06_models/personalization/completejourney/recommender.pkl``),
loaded on the first request.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

DEFAULT_BUNDLE = Path(os.environ.get("DISCOVERY_RECOMMENDER",
                                     "data/06_models/personalization/completejourney/recommender.pkl"))
MAX_K = 100


class RecommendedItem(BaseModel):
    rank: int
    product_id: str
    title: str
    score: float | None
    slot: Literal["ranked", "explore"]


class RecommendResponse(BaseModel):
    user_id: str
    source: str
    dataset: str
    items: list[RecommendedItem]


def create_router(bundle_path: str | os.PathLike[str] | None = None) -> APIRouter:
    """Router with ``GET /recommend``; the bundle loads lazily (503 while it cannot be loaded)."""
    from discovery_pipelines.personalization.recommender import Recommender

    router = APIRouter(tags=["recommendations"])
    path = Path(bundle_path) if bundle_path is not None else DEFAULT_BUNDLE
    state: dict[str, Recommender] = {}
    lock = threading.Lock()

    def recommender() -> Recommender:
        with lock:
            if "r" not in state:
                try:
                    state["r"] = Recommender.load(path)
                except (FileNotFoundError, ValueError) as e:
                    # the bundle's name only: public routes never show local paths
                    raise HTTPException(503, f"recommender bundle {path.name} is not available "
                                             f"({type(e).__name__})") from None
            return state["r"]

    @router.get("/recommend", response_model=RecommendResponse)
    def recommend(
        user: Annotated[str, Query(min_length=1, max_length=64, description="user / household id")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        day_of_week: Annotated[int | None, Query(ge=0, le=6, description="0 = Monday")] = None,
        hour: Annotated[int | None, Query(ge=0, le=23)] = None,
        model: Annotated[Literal["full_stack", "two_tower"], Query(description="answering model")] = "full_stack",
    ) -> RecommendResponse:
        """Top-k products for a user (full stack; the user's usual day / hour unless given), popularity
        for unknown users (labelled)."""
        r = recommender()
        rec = r.recommend(user, k=k, day_of_week=day_of_week, hour=hour, model=model)
        return RecommendResponse(dataset=r.dataset, **rec.to_dict())

    return router
