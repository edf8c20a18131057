"""Wiring of the ``evaluate`` pipeline."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.evaluate.nodes import evaluate_splits, report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(evaluate_splits, ["products", "queries", "qrels", "params:evaluate"],
                 ["evaluate_per_query", "evaluate_metrics"], name="evaluate_retrievers"),
            Node(report, ["evaluate_metrics", "evaluate_per_query"], ["evaluate_report", "evaluate_plot"],
                 name="evaluate_report"),
        ],
        tags=["evaluate"],
    )
