"""Wiring of the ``failure_analysis`` pipeline: one Kedro namespace (collapsible group in kedro-viz).

Border: ``evaluate_per_query``, ``queries``, ``qrels``, ``products`` -> ``failure_groups``,
``failure_group_stats`` (read by ``synthetic``); the report (Markdown, JSON, plot) stays inside.
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.failure_analysis.nodes import build_failure_groups


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(build_failure_groups,
                 inputs=["evaluate_per_query", "queries", "qrels", "products", "params:failure_analysis"],
                 outputs=["failure_groups", "failure_group_stats", "report_md", "report_json", "not_good_plot"],
                 name="build_failure_groups"),
        ],
        namespace="failure_analysis",
        inputs={"evaluate_per_query", "queries", "qrels", "products"},
        outputs={"failure_groups", "failure_group_stats"},
        parameters={"failure_analysis"},
        tags=["failure_analysis"],
    )
