"""Typed parameters of the ``quality`` stage (``conf/base/parameters_quality.yml``): pydantic models with
``extra="forbid"``, so a misspelt key fails naming the key instead of falling back to a default."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from discovery_pipelines.search.ltr import LTRConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeacherTrain(_Strict):
    """See :class:`discovery_pipelines.finetune.teacher.TeacherConfig`."""

    negatives_per_query: int = Field(3, ge=0)
    candidates: int = Field(50, ge=1)
    max_queries: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(7e-5, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_length: int = Field(64, ge=8)
    budget_seconds: float | None = Field(None, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 13


class Teacher(_Strict):
    base_model: str = "all-MiniLM-L6-v2"
    kind: Literal["cross_encoder"] = "cross_encoder"
    train: TeacherTrain = TeacherTrain()


class Fusion(_Strict):
    """The grid :func:`discovery_pipelines.search.fusion.tune_fusion` searches on dev."""

    rrf_c: list[float] = [10, 30, 60]
    rrf_dense_weight: list[float] = [0.5, 1.0, 2.0]
    alphas: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


class Rerank(_Strict):
    top_n: int = Field(20, ge=1, le=1000)      # hybrid candidates re-scored per query (evaluation and serving)
    batch_size: int = Field(64, ge=1)
    agreement_top_n: int = Field(10, ge=1)     # unjudged first-stage candidates per dev query in the AUC
    first_stage_weights: list[float] = [0.0, 0.25, 0.5, 0.75]  # interpolation grid, chosen on dev

    @field_validator("first_stage_weights")
    @classmethod
    def _unit(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 <= w <= 1.0 for w in v):
            raise ValueError(f"first_stage_weights must be a non-empty list of weights in [0, 1], got {v}")
        return v


class Serving(_Strict):
    latency_budget_p95_ms: float = Field(250.0, gt=0)
    latency_queries: int = Field(30, ge=5)


class QualityParams(_Strict):
    splits: list[str] = ["dev", "holdout"]
    k: int = Field(100, ge=10)
    rel_threshold: float = 2.0
    text_fields: list[str] = ["title"]
    cache_dir: str = "data/07_model_output/embedding_cache"
    teacher: Teacher = Teacher()
    fusion: Fusion = Fusion()
    rerank: Rerank = Rerank()
    serving: Serving = Serving()
    ltr_train_split: str = "train"             # queries (and qrels) the LambdaMART ranker learns from
    ltr: LTRConfig = LTRConfig()               # :class:`discovery_pipelines.search.ltr.LTRConfig`
    bootstrap_samples: int = Field(1000, ge=100)
    seed: int = 13


def parse(params: dict[str, Any] | None) -> QualityParams:
    """``QualityParams`` from the ``quality`` parameters mapping.

    Raises:
        pydantic.ValidationError: an unknown key (named, with its path) or a value out of range.
    """
    return QualityParams.model_validate(params or {})
