"""Wiring of the ``evaluate`` pipeline: one Kedro namespace (collapsible group in kedro-viz).

Border: ``products``, ``queries``, ``qrels`` -> ``evaluate_per_query`` (read by ``failure_analysis``);
metrics, report and plot stay inside (``evaluate.*``).
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.evaluate.nodes import evaluate_splits, report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(evaluate_splits, ["products", "queries", "qrels", "params:evaluate"],
                 ["evaluate_per_query", "metrics"], name="evaluate_splits"),
            Node(report, ["metrics", "evaluate_per_query"], ["report", "plot"], name="report"),
        ],
        namespace="evaluate",
        inputs={"products", "queries", "qrels"},
        outputs={"evaluate_per_query"},
        parameters={"evaluate"},
        tags=["evaluate"],
    )
