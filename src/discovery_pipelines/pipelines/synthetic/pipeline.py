"""Wiring of the ``synthetic`` pipeline."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.synthetic.nodes import generate_pairs, plan_budget, quality_control_pairs


def create_pipeline(**kwargs) -> Pipeline:
    """failure groups -> budget -> raw pairs -> QC'd ``synthetic_pairs`` (+ audit and report)."""
    return Pipeline([
        Node(plan_budget, inputs=["failure_group_stats", "products", "params:synthetic"],
             outputs="synthetic_budget", name="plan_synthetic_budget"),
        Node(generate_pairs,
             inputs=["synthetic_budget", "failure_groups", "products", "qrels", "params:synthetic"],
             outputs=["synthetic_pairs_raw", "synthetic_generation_stats"], name="generate_synthetic_pairs"),
        Node(quality_control_pairs,
             inputs=["synthetic_pairs_raw", "products", "queries", "synthetic_budget", "synthetic_generation_stats",
                     "params:synthetic"],
             outputs=["synthetic_pairs", "synthetic_qc"], name="quality_control_synthetic_pairs"),
    ])
