"""``carousels``: LLM carousels with an LLM jury, masked exact KNN, block re-ranking, rewriting and RAG."""

from discovery_pipelines.pipelines.carousels.pipeline import create_pipeline

__all__ = ["create_pipeline"]
