"""Schema of ``conf/base/parameters_evaluate.yml`` (see :mod:`discovery_pipelines.data.params`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import InputPath, parameters_schema
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR


class GoodCondition(Params):
    """One condition of the Good / Not Good rule (:func:`discovery_pipelines.search.metrics.verdict`)."""

    metric: str
    op: Literal[">=", ">", "<=", "<"]
    value: float


class RRFParams(Params):
    """Reciprocal rank fusion (Cormack et al. 2009): ``c`` and a weight per fused retriever."""

    c: float = 60.0
    weights: dict[str, float] = Field(default_factory=lambda: {"bm25": 1.0, "dense": 1.0})


@parameters_schema("evaluate")
class EvaluateParams(Params):
    """``evaluate``: full-catalogue retrieval evaluation of one model on the query splits."""

    model: InputPath = "all-MiniLM-L6-v2"   # packaged name or local folder (content-hashed)
    retrievers: list[Literal["bm25", "dense", "hybrid"]] = Field(default_factory=lambda: ["bm25", "dense", "hybrid"])
    splits: list[str] = Field(default_factory=lambda: ["dev", "holdout"], min_length=1)
    k: int = Field(default=100, gt=0)
    text_fields: list[str] = Field(default_factory=lambda: ["title"], min_length=1)
    rel_threshold: float = 2.0
    good_rule: list[GoodCondition] = Field(
        default_factory=lambda: [GoodCondition(metric="ndcg@10", op=">=", value=0.5)])
    rrf: RRFParams = RRFParams()
    cache_dir: str = str(DEFAULT_CACHE_DIR)
