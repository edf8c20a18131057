"""``evaluate``: BM25 / dense / hybrid retrieval scored on graded qrels, with a Good / Not Good verdict."""

from discovery_pipelines.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
