"""Wiring of the ``synthetic`` pipeline: one Kedro namespace (collapsible group in kedro-viz).

Border: ``failure_groups``, ``failure_group_stats``, ``products``, ``queries``, ``qrels`` ->
``synthetic_pairs`` (read by ``finetune``); budget, raw pairs, QC audit and report stay inside.
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.synthetic.nodes import generate_pairs, plan_budget, quality_control_pairs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(plan_budget, inputs=["failure_group_stats", "products", "params:synthetic"],
                 outputs="budget", name="plan_budget"),
            Node(generate_pairs, inputs=["budget", "failure_groups", "products", "qrels", "params:synthetic"],
                 outputs=["pairs_raw", "generation_stats"], name="generate_pairs"),
            Node(quality_control_pairs,
                 inputs=["pairs_raw", "products", "queries", "budget", "generation_stats", "params:synthetic"],
                 outputs=["synthetic_pairs", "qc", "report_md", "report_json", "acceptance_plot"],
                 name="quality_control_pairs"),
        ],
        namespace="synthetic",
        inputs={"failure_groups", "failure_group_stats", "products", "queries", "qrels"},
        outputs={"synthetic_pairs"},
        parameters={"synthetic"},
        tags=["synthetic"],
    )
