"""``distill``: label expansion by the cross-encoder teacher and the distilled student (a stage of the main
``finetune`` job; the gate chooses between the student and today's candidate)."""

from discovery_pipelines.pipelines.distill.pipeline import create_pipeline

__all__ = ["create_pipeline"]
