"""Schema of ``conf/base/parameters_finetune.yml`` (see :mod:`discovery_pipelines.data.params`).

The training hyper-parameters are :class:`~discovery_pipelines.finetune.trainer.TrainConfig` itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import InputPath, parameters_schema
from discovery_pipelines.finetune.trainer import TrainConfig
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR


class ModelsParams(Params):
    """The production checkpoint, the resume folder of training jobs and the embedding cache."""

    production: InputPath = "all-MiniLM-L6-v2"   # packaged name or local folder (content-hashed)
    work_dir: str = "data/06_models/training"
    cache_dir: str = str(DEFAULT_CACHE_DIR)


class DataParams(Params):
    """Training pairs (:func:`discovery_pipelines.finetune.data.assemble_pairs`)."""

    qrels_min_gain: float = 2.0
    qrels_sampling: Literal["random", "round_robin"] = "random"
    priority: list[Literal["qrels", "log", "synthetic"]] = Field(default_factory=lambda: ["qrels", "log", "synthetic"])
    caps: dict[Literal["qrels", "log", "synthetic"], int | None] | None = None
    max_pairs: int | None = Field(default=None, gt=0)
    seed: int = 13


class NegativesParams(Params):
    """Hard negatives (:func:`discovery_pipelines.finetune.negatives.mine_band_negatives`)."""

    num_negatives: int = Field(default=0, ge=0)
    min_score: float = 0.3
    max_score: float = 0.7
    max_relative: float | None = None
    candidates: int = Field(default=100, gt=0)
    sampling: Literal["top", "random"] = "top"
    fill_random: bool = False
    exclude_min_gain: float = 2.0
    judged_max_gain: float | None = None


class AugmentParams(Params):
    """Typo-aware training (:func:`discovery_pipelines.finetune.augment.add_query_typos`)."""

    typo_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    typo_sources: list[str] = Field(default_factory=lambda: ["qrels"])
    layout: str = "qwerty"
    seed: int = 13


class ReferenceParams(Params):
    """The plain reference recipe: in-batch-negative MNRL on train-split qrels pairs."""

    qrels_min_gain: float = 2.5
    max_pairs: int = Field(default=12000, gt=0)
    seed: int = 13
    train: TrainConfig = TrainConfig()


class DevEvalParams(Params):
    """In-training monitoring on a dev subset (binary relevance)."""

    rel_threshold: float = 2.5
    n_queries: int = Field(default=300, gt=0)
    n_distractors: int = Field(default=2000, ge=0)
    seed: int = 13


class CandidateParams(Params):
    """The candidate: training, in-training dev evaluation, WiSE-FT alpha, throughput check."""

    throughput_check_steps: int = Field(default=0, ge=0)
    wise_alpha: float = Field(default=1.0, gt=0.0, le=1.0)
    train: TrainConfig = TrainConfig()
    dev_eval: DevEvalParams | None = DevEvalParams()


class GateParams(Params):
    """Regression gate (:func:`discovery_pipelines.finetune.gate.regression_gate`)."""

    min_dev_gain: float = 0.0
    max_flips: int = Field(default=10, ge=0)
    max_ndcg_loss: float = 0.005


class ExportParams(Params):
    """Release of a passing candidate: faiss index factory and MLflow registered model name (the model and
    index folders are the catalog's ``production_model`` and ``search_index``)."""

    factory: str = "Flat"
    registered_model_name: str = "discovery-search"


@parameters_schema("finetune")
class FinetuneParams(Params):
    """``finetune``."""

    models: ModelsParams = ModelsParams()
    data: DataParams = DataParams()
    negatives: NegativesParams = NegativesParams()
    augment: AugmentParams = AugmentParams()
    reference: ReferenceParams = ReferenceParams()
    candidate: CandidateParams = CandidateParams()
    gate: GateParams = GateParams()
    export: ExportParams = ExportParams()


class ExpansionParams(Params):
    """Label expansion (:mod:`discovery_pipelines.finetune.distill`): the teacher scores each sampled query's
    hybrid top-``top_k`` (BM25 and the candidate's dense top-``depth``, fused by a weighted sum) plus its
    judged products."""

    train_queries: int = Field(default=1500, ge=1)      # train-split queries with qrels (seeded sample)
    synthetic_queries: int = Field(default=500, ge=0)   # synthetic queries (no held-out text)
    depth: int = Field(default=50, ge=1)                # BM25 / dense depth fused into the hybrid list
    top_k: int = Field(default=16, ge=2)                # hybrid candidates scored per query
    hybrid_alpha: float = Field(default=0.5, ge=0.0, le=1.0)  # dense weight of the hybrid (BM25: 1 - alpha)
    ce_weight: float = Field(default=0.5, ge=0.0, le=1.0)     # ensemble: w * p_CE + (1 - w) * hybrid
    positive_prob: float = Field(default=0.6, gt=0.0, lt=1.0)  # p_CE >= this: a teacher positive (reported)
    negative_prob: float = Field(default=0.1, gt=0.0, lt=1.0)  # p_CE <= this: a teacher-confirmed negative
    batch_size: int = Field(default=64, ge=1)
    budget_seconds: float | None = Field(default=None, gt=0)  # wall-clock cap on teacher scoring (None = all queries)
    probe_queries: int = Field(default=50, ge=1)        # queries scored first to measure seconds per query
    seed: int = 13


class StudentExamplesParams(Params):
    """Rows of the student (:func:`discovery_pipelines.finetune.distill.student_examples`)."""

    negatives: int = Field(default=4, ge=1)
    positives_per_query: int = Field(default=2, ge=1)
    min_positive_label: float = Field(default=0.66, ge=0.0, le=1.0)   # human gain / max gain (Home Depot: 2 / 3)
    seed: int = 13


@parameters_schema("distill")
class DistillParams(Params):
    """``distill``: label expansion by the teacher and the distilled student (initialised from the
    candidate; ``train`` is its :class:`~discovery_pipelines.finetune.trainer.TrainConfig`)."""

    expansion: ExpansionParams = ExpansionParams()
    examples: StudentExamplesParams = StudentExamplesParams()
    train: TrainConfig = TrainConfig(loss="distill_kl")
    dev_eval: DevEvalParams | None = DevEvalParams()
    work_dir: str = "data/06_models/training/student"
