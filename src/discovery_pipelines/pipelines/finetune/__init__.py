"""``finetune``: the main job, chaining ingest -> log_mining -> evaluate -> failure_analysis ->
synthetic -> training (pairs, hard negatives, reference + candidate, evaluation, gate, export)."""

from discovery_pipelines.pipelines.finetune.pipeline import create_pipeline

__all__ = ["create_pipeline"]
