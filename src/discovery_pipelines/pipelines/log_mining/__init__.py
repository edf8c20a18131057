"""``log_mining``: simulate (or read) search events and mine Wilson-bound training pairs from them."""

from discovery_pipelines.pipelines.log_mining.pipeline import create_pipeline

__all__ = ["create_pipeline"]
