"""Wiring of the ``failure_analysis`` pipeline."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.failure_analysis.nodes import build_failure_groups


def create_pipeline(**kwargs) -> Pipeline:
    """evaluate_per_query + queries + qrels + products -> failure_groups, failure_group_stats."""
    return Pipeline([
        Node(build_failure_groups,
             inputs=["evaluate_per_query", "queries", "qrels", "products", "params:failure_analysis"],
             outputs=["failure_groups", "failure_group_stats"], name="build_failure_groups"),
    ])
