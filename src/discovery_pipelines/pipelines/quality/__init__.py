"""``quality``: cross-encoder teacher, tuned hybrid fusion, re-ranking, the comparison report and the served
default mode (also a stage of the main ``finetune`` job)."""

from discovery_pipelines.pipelines.quality.pipeline import create_pipeline

__all__ = ["create_pipeline"]
