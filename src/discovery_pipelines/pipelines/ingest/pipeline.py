"""Wiring of the ``ingest`` pipeline: one Kedro namespace (collapsible group in kedro-viz).

Border: parameters ``ingest`` -> ``products``, ``queries``, ``qrels``; ``ingest.raw_queries`` and the
report ``ingest.metrics`` stay inside.
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.ingest.nodes import load_source, split_queries


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(load_source, "params:ingest", ["products", "raw_queries", "qrels", "metrics"], name="load_source"),
            Node(split_queries, ["raw_queries", "params:ingest.splits"], "queries", name="split_queries"),
        ],
        namespace="ingest",
        outputs={"products", "queries", "qrels"},
        parameters={"ingest", "ingest.splits"},
        tags=["ingest"],
    )
