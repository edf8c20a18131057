"""``training``: training pairs -> hard negatives -> reference + candidate fine-tunes -> evaluation ->
regression gate -> promotion (model + faiss index + MLflow). ``finetune`` chains it after the
upstream pipelines."""

from discovery_pipelines.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
