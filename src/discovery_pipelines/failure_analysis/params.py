"""Schema of ``conf/base/parameters_failure_analysis.yml`` (see :mod:`discovery_pipelines.data.params`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import InputPath, parameters_schema


class ClusterNaming(Params):
    """Name embedding clusters with an LLM (connection from credentials ``credentials_key``) or by top terms."""

    use_llm: bool = False
    credentials_key: str = "synthetic_llm"
    llm: dict[str, Any] = Field(default_factory=dict)   # behaviour settings, see synthetic.llm.resolve_llm_settings


@parameters_schema("failure_analysis")
class FailureAnalysisParams(Params):
    """``failure_analysis``: which evaluated rows are analysed and how unnamed failures are clustered."""

    retriever: str = "dense"
    eval_split: str = "dev"
    train_split: str = "train"
    model: InputPath = "all-MiniLM-L6-v2"   # packaged name or local folder (content-hashed)
    n_clusters: int = Field(default=8, gt=0)
    min_cluster_size: int = Field(default=5, gt=0)
    vocab_min_count: int = Field(default=3, gt=0)
    n_examples: int = Field(default=5, ge=0)
    random_state: int = 0
    cluster_naming: ClusterNaming = ClusterNaming()
