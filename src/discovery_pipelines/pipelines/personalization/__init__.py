"""``personalization``: next-basket recommendations from order histories (issue #17)."""

from discovery_pipelines.pipelines.personalization.pipeline import create_pipeline

__all__ = ["create_pipeline"]
