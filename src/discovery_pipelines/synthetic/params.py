"""Schema of ``conf/base/parameters_synthetic.yml`` (see :mod:`discovery_pipelines.data.params`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import parameters_schema


class GeneratorParams(Params):
    """Which generator writes the pairs; LLM connection settings come from credentials, never parameters."""

    backend: Literal["rules", "openai"] = "rules"
    credentials_key: str = "synthetic_llm"
    llm: dict[str, Any] = Field(default_factory=dict)   # behaviour settings, see synthetic.llm.resolve_llm_settings


class JuryParams(Params):
    """The relevance jury of quality control (:mod:`discovery_pipelines.synthetic.qc`)."""

    backend: Literal["rules", "llm"] = "rules"
    n_jurors: int = Field(default=3, gt=0)
    veto: Literal["any", "majority", "all"] = "majority"
    min_overlap: float = 0.5
    fuzzy: float = 80
    min_cosine: float | None = None
    model: str | None = None
    llm: dict[str, Any] = Field(default_factory=dict)


class QCParams(Params):
    """Length, leakage and jury checks of every generated pair."""

    min_chars: int = 3
    max_chars: int = 80
    min_tokens: int = 1
    max_tokens: int = 10
    leakage_splits: list[str] = Field(default_factory=lambda: ["dev", "holdout"])
    jury: JuryParams = JuryParams()


@parameters_schema("synthetic")
class SyntheticParams(Params):
    """``synthetic``: budget per failure group and language, generation, quality control."""

    total_pairs: int = Field(default=3000, ge=0)
    seed: int = 0
    languages: dict[str, float] | None = None
    allowed_languages: list[str] | None = None
    language_factors: dict[str, float] = Field(default_factory=dict)
    group_factors: dict[str, float] = Field(default_factory=dict)
    gap_floor: float = 0.1
    min_queries: int = 5
    exclude_groups: list[str] = Field(default_factory=list)
    queries_per_product: int = Field(default=2, gt=0)
    overshoot: float = Field(default=1.5, ge=1.0)
    min_gain: float = 2.0
    catalogue_sample: int = Field(default=5000, gt=0)
    generator: GeneratorParams = GeneratorParams()
    qc: QCParams = QCParams()
