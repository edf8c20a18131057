"""Parameters of the carousels pipeline (``conf/base/parameters_carousels.yml``), validated by pydantic.

Every model forbids unknown keys, so a misspelt key fails the run with an error that names it.
Connection settings of an LLM (base URL, key, model) never live here: they come from Kedro credentials
or the environment (:func:`discovery_pipelines.synthetic.llm.resolve_llm_settings`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from discovery_pipelines.synthetic.llm import LLMSettings

_LLM_FIELDS = {f for f in LLMSettings.__dataclass_fields__ if f not in {"model", "base_url", "api_key"}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMParams(_Strict):
    """Which endpoint entry to use and the client's behaviour (fields of :class:`LLMSettings`)."""

    credentials_key: str = "synthetic_llm"
    model: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _known(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(v) - _LLM_FIELDS)
        if unknown:
            raise ValueError(f"unknown LLM setting(s) {unknown}; known: {sorted(_LLM_FIELDS)}")
        return v

    def as_params(self) -> dict[str, Any]:
        """The mapping :func:`resolve_llm_settings` reads (behaviour + optional model name)."""
        return {**self.settings, **({"model": self.model} if self.model else {})}


class ProfileParams(_Strict):
    top_n: int = Field(8, ge=1, le=20)
    min_baskets: int = Field(2, ge=2)
    max_users: int | None = Field(None, ge=1)


class GenerationParams(_Strict):
    backend: Literal["rules", "llm"] = "rules"
    engine: Literal["pandas", "spark"] = "pandas"
    spark_master: str = "local[1]"
    n_carousels: int = Field(6, ge=1, le=12)
    min_items: int = Field(15, ge=1)
    max_items: int = Field(1500, ge=1)
    diversity_threshold: float = Field(0.8, gt=0, le=1)
    excluded_topics: list[str] = Field(default_factory=list)
    staples_categories: int = Field(3, ge=0, le=8)
    llm: LLMParams = Field(default_factory=LLMParams)

    @model_validator(mode="after")
    def _bounds(self) -> "GenerationParams":
        if self.min_items > self.max_items:
            raise ValueError(f"min_items ({self.min_items}) > max_items ({self.max_items})")
        return self


class ModerationParams(_Strict):
    backend: Literal["rules", "llm"] = "rules"
    veto: Literal["any", "majority", "all"] = "any"
    heldout_mod: int = Field(3, ge=2)
    llm: LLMParams = Field(default_factory=LLMParams)


class RetrievalParams(_Strict):
    model: str = "all-MiniLM-L6-v2"
    device: str | None = None
    batch_size: int = Field(128, ge=1)
    k: int = Field(10, ge=1, le=100)
    n_candidates: int = Field(50, ge=1, le=1000)
    n_stores: int = Field(5, ge=1, le=50)
    metadata_filter: bool = True
    rank_penalty: float = Field(0.05, ge=0, le=1)
    faiss_queries: int = Field(200, ge=1)


class RerankParams(_Strict):
    engagement: Literal["popularity", "personal"] = "personal"
    personal_weight: float = Field(0.8, ge=0, le=1)
    alpha: float = Field(1.0, ge=0)
    beta: float = Field(1.0, ge=0)
    block_size: int = Field(5, ge=1)
    grid_alpha: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    grid_beta: list[float] = Field(default_factory=lambda: [0.0, 1.0, 2.0])
    grid_block_size: list[int] = Field(default_factory=lambda: [5, 20])


class RewriteParams(_Strict):
    backend: Literal["rules", "llm"] = "rules"
    catalogue_department_limit: int = Field(3, ge=1)
    llm: LLMParams = Field(default_factory=LLMParams)


class ReportParams(_Strict):
    n_users: int = Field(5, ge=1, le=50)
    seed: int = 0


class CarouselsParams(_Strict):
    """The whole ``carousels`` block."""

    dataset: Literal["completejourney", "instacart_histories"] = "completejourney"
    profiles: ProfileParams = Field(default_factory=ProfileParams)
    generation: GenerationParams = Field(default_factory=GenerationParams)
    moderation: ModerationParams = Field(default_factory=ModerationParams)
    retrieval: RetrievalParams = Field(default_factory=RetrievalParams)
    rerank: RerankParams = Field(default_factory=RerankParams)
    rewrite: RewriteParams = Field(default_factory=RewriteParams)
    report: ReportParams = Field(default_factory=ReportParams)


def parse_params(params: dict[str, Any] | None) -> CarouselsParams:
    """Validate the ``carousels`` parameter block.

    Raises:
        pydantic.ValidationError: an unknown key (named) or a value out of range.
    """
    return CarouselsParams.model_validate(dict(params or {}))
