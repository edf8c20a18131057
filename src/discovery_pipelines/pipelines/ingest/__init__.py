"""``ingest``: a source dataset -> validated contract tables with query-level splits."""

from discovery_pipelines.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
