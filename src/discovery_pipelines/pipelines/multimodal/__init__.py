"""``multimodal``: image + text product tower, QCC query tower, evaluation and index export (issue 16)."""

from discovery_pipelines.pipelines.multimodal.pipeline import create_pipeline

__all__ = ["create_pipeline"]
