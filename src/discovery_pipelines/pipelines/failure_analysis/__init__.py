"""Kedro pipeline ``failure_analysis``: failure groups of the evaluated retriever on dev."""

from discovery_pipelines.pipelines.failure_analysis.pipeline import create_pipeline

__all__ = ["create_pipeline"]
