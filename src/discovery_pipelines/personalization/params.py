"""Pydantic models of ``conf/base/parameters_personalization.yml`` (``extra="forbid"``: a misspelt key
is an error naming it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitParams(_Strict):
    min_baskets: int = Field(3, ge=3)


class FeatureParams(_Strict):
    engine: Literal["duckdb", "spark"] = "duckdb"
    duckdb: dict[str, Any] = Field(default_factory=lambda: {"memory_limit": "2GB"})
    spark: dict[str, Any] = Field(default_factory=lambda: {"master": "local[1]"})


class CoOccurrenceParams(_Strict):
    decay: float = Field(0.9, gt=0, le=1)
    min_count: int = Field(3, ge=1)


class TifuParams(_Strict):
    group_size: int = Field(7, ge=1)
    r_b: float = Field(0.9, gt=0, le=1)
    r_g: float = Field(0.7, gt=0, le=1)
    k: int = Field(300, ge=1)
    alpha: float = Field(0.7, ge=0, le=1)


class AlsParams(_Strict):
    factors: int = Field(64, ge=1)
    regularization: float = Field(0.05, ge=0)
    iterations: int = Field(15, ge=1)
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    seed: int = 0


class BaselineParams(_Strict):
    cooccurrence: CoOccurrenceParams = CoOccurrenceParams()
    tifu_knn: TifuParams = TifuParams()
    als: AlsParams = AlsParams()


class TextParams(_Strict):
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(128, ge=1)
    precision: str | None = None


class TwoTowerParams(_Strict):
    dim: int = Field(64, ge=8)
    tau: float = Field(0.05, gt=0)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(1024, ge=2)
    lr: float = Field(3e-3, gt=0)
    history_len: int = Field(64, ge=1)
    text_dim: int | None = Field(64, ge=2)
    targets_per_user: int = Field(20, ge=1)
    seed: int = 0
    max_seconds: float | None = Field(None, gt=0)
    device: str | None = None


class SemanticIdParams(_Strict):
    levels: int = Field(3, ge=1, le=8)
    bits: int = Field(8, ge=1, le=12)
    seed: int = 0
    cold_max_baskets: int = Field(4, ge=0)
    min_prefix: int = Field(1, ge=1)


class RankerParams(_Strict):
    candidates: dict[str, int] = Field(default_factory=lambda: {
        "own_frequency": 60, "tifu_knn": 60, "two_tower": 40, "als": 30, "cooccurrence": 30, "popularity_unseen": 30})
    num_leaves: int = 31
    learning_rate: float = 0.05
    n_estimators: int = 400
    min_child_samples: int = 50
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    early_stopping: int = 40
    seed: int = 0


class NeighbourItemsParams(_Strict):
    k: int = Field(100, ge=1)
    group_size: int = Field(7, ge=1)
    r_b: float = Field(0.9, gt=0, le=1)
    r_g: float = Field(0.7, gt=0, le=1)


class TaxonomyPopularityParams(_Strict):
    levels: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(5.0, gt=0)
    half_life_days: float | None = Field(180.0, gt=0)
    decay: float = Field(0.97, gt=0, le=1)


class ExploreParams(_Strict):
    weights: dict[Literal["neighbour_items", "taxonomy_popularity"], float] = Field(
        default_factory=lambda: {"neighbour_items": 1.0, "taxonomy_popularity": 0.0})
    rrf_c: float = Field(60.0, gt=0)
    list_length: int = Field(50, ge=20)
    neighbour_items: NeighbourItemsParams = NeighbourItemsParams()
    taxonomy_popularity: TaxonomyPopularityParams = TaxonomyPopularityParams()


class BlendParams(_Strict):
    familiarity: float = Field(1.0, ge=0)
    affordability: float = Field(0.05, ge=0)
    novelty: float = Field(0.0, ge=0)
    explore_slots: int = Field(10, ge=0)
    explore_after: int = Field(10, ge=0)
    sweep: dict[str, list[float]] = Field(default_factory=lambda: {
        "affordability": [0.0, 0.05, 0.2, 0.5], "novelty": [0.0, 0.1, 0.3, 1.0]})
    tradeoff: list[tuple[int, int]] = Field(default_factory=lambda: [
        (10, 0), (10, 3), (10, 5), (10, 10), (9, 11), (8, 12), (6, 14), (4, 16), (0, 20)])


class EvaluationParams(_Strict):
    k: int = Field(100, ge=20)
    n_boot: int = Field(2000, ge=100)
    seed: int = 0


class PersonalizationParams(_Strict):
    """Everything under ``personalization:``."""

    dataset: Literal["completejourney", "instacart_histories"] = "completejourney"
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    baselines: BaselineParams = BaselineParams()
    text: TextParams = TextParams()
    two_tower: TwoTowerParams = TwoTowerParams()
    semantic_ids: SemanticIdParams = SemanticIdParams()
    ranker: RankerParams = RankerParams()
    explore: ExploreParams = ExploreParams()
    blend: BlendParams = BlendParams()
    evaluation: EvaluationParams = EvaluationParams()


def parse(params: dict[str, Any] | PersonalizationParams) -> PersonalizationParams:
    """Validate the ``personalization`` parameters (raises ``pydantic.ValidationError`` naming bad keys)."""
    return params if isinstance(params, PersonalizationParams) else PersonalizationParams.model_validate(params)
