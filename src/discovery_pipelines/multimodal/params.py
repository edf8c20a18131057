"""Pydantic models of ``conf/base/parameters_multimodal.yml`` (``extra="forbid"``: a misspelt key is an
error naming it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from discovery_pipelines.data.paths import InputPath, parameters_schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestParams(_Strict):
    blank_title_share: float = Field(0.5, ge=0.0, le=1.0)
    seed: int = 0
    on_missing_image: Literal["raise", "skip"] = "raise"


class PhotoParams(_Strict):
    decode_px: int = Field(112, ge=32, le=512)   # stored size; training crops ``product_tower.crop`` from it
    on_error: Literal["raise", "skip"] = "raise"


class TextParams(_Strict):
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 128
    cache_dir: str | None = "data/07_model_output/embedding_cache"


class ProductTowerParams(_Strict):
    arch: str = "resnet18"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    weights_path: InputPath | None = None     # content-hashed by the stage cache
    dim: int = 256
    crop: int = Field(96, ge=32, le=512)
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    max_epochs: int = 90
    patience: int = 18
    time_budget_s: float = 720.0
    scale_min: float = 0.35
    jitter: float = 0.25
    fusion_alpha: float = Field(0.5, ge=0.0, le=1.0)
    init_temperature: float = 0.07
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"   # bf16 autocast where native (AMX / AVX512-BF16 / CUDA)
    channels_last: bool = True                # NHWC layout for the backbone (faster convolutions)
    ema_decay: float = Field(0.998, ge=0.0, lt=1.0)   # EMA of the weights (0 = the raw weights)
    tta: Literal["none", "flip", "ten_crop"] = "ten_crop"   # views averaged when the catalogue's photos are encoded


class EnrichmentParams(_Strict):
    """Photo-inferred text for listings without a title (:mod:`multimodal.enrichment`)."""

    enabled: bool = True
    top_k: int = Field(5, ge=1)                 # classes in the posterior p(c | photo)
    prototype_beta: float = Field(0.0, ge=0.0)  # weight of the train photos' class mean in the class prototypes
    calibrate: bool = True                      # temperature of p(c | photo) by val NLL (temperature scaling)


class GeneratorQC(_Strict):
    min_chars: int = 3
    max_chars: int = 80
    max_tokens: int = 8
    min_overlap: float = 0.5
    fuzzy: float = 80


class TrainingQueryParams(_Strict):
    groups: list[str] = Field(default_factory=lambda: ["category_vocabulary", "misspelling", "keyword", "color"])
    n_per_request: int = 3
    generator: dict[str, Any] = Field(default_factory=lambda: {"backend": "rules"})
    credentials_key: str = "synthetic_llm"
    qc: GeneratorQC = Field(default_factory=GeneratorQC)


class QueryTowerParams(_Strict):
    base_model: str = "all-MiniLM-L6-v2"
    epochs: int = 2
    batch_size: int = 64
    lr: float = 5e-5
    head_lr: float = 1e-3
    scale: float = 20.0
    symmetric: bool = True
    catalog_negatives: int = 256
    max_seq_length: int = 32
    seed: int = 0


class EvaluationParams(_Strict):
    k: int = 100
    rel_threshold: float = 2.0
    n_bootstrap: int = 2000
    seed: int = 0
    knn_k: int = 10
    probe_c: float = 0.5
    probe_max_iter: int = 300
    grid_queries: list[str] = Field(default_factory=lambda: ["green apples for baking", "oat drink", "bell peppers",
                                                             "vanilla yoghurt", "tomatoes on the vine"])
    image_root: InputPath = "../shared/datasets/grocery_store"   # content-hashed by the stage cache


class ExportParams(_Strict):
    factory: str = "Flat"
    save_embeddings: bool = True


class TextQCCParams(_Strict):
    enabled: bool = True
    base_model: str = "all-MiniLM-L6-v2"
    n_pairs: int = 640
    min_gain: float = 2.0
    max_steps: int = 20
    batch_size: int = 32
    learning_rate: float = 5e-5
    scale: float = 20.0
    n_dev_queries: int = 150
    catalogue_size: int = 3000
    rel_threshold: float = 2.0
    n_bootstrap: int = 2000
    seed: int = 0


@parameters_schema("multimodal")
class MultimodalParams(_Strict):
    """The whole ``multimodal`` parameter block."""

    ingest: IngestParams = Field(default_factory=IngestParams)
    photos: PhotoParams = Field(default_factory=PhotoParams)
    text: TextParams = Field(default_factory=TextParams)
    product_tower: ProductTowerParams = Field(default_factory=ProductTowerParams)
    enrichment: EnrichmentParams = Field(default_factory=EnrichmentParams)
    training_queries: TrainingQueryParams = Field(default_factory=TrainingQueryParams)
    query_tower: QueryTowerParams = Field(default_factory=QueryTowerParams)
    evaluation: EvaluationParams = Field(default_factory=EvaluationParams)
    export: ExportParams = Field(default_factory=ExportParams)
    text_qcc: TextQCCParams = Field(default_factory=TextQCCParams)


def parse(params: dict[str, Any] | None) -> MultimodalParams:
    """Validated :class:`MultimodalParams` (raises ``pydantic.ValidationError`` naming a bad or unknown key)."""
    return MultimodalParams.model_validate(params or {})
