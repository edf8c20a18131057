"""Wiring of the ``ingest`` pipeline."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.ingest.nodes import load_source, split_queries


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(load_source, "params:ingest", ["products", "raw_queries", "qrels"], name="load_source"),
            Node(split_queries, ["raw_queries", "params:ingest.splits"], "queries", name="split_queries"),
        ],
        tags=["ingest"],
    )
