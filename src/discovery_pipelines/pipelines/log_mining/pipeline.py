"""Wiring of the ``log_mining`` pipeline."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.log_mining.nodes import (
    evaluate_mining,
    mine_click_logs,
    prepare_events,
    split_training_pairs,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(prepare_events, ["products", "queries", "qrels", "params:log_mining.events"],
                 "log_mining_events_manifest", name="prepare_events"),
            Node(mine_click_logs, ["log_mining_events_manifest", "products", "params:log_mining.mining"],
                 ["mined_pairs", "log_mining_mining_report"], name="mine_click_logs"),
            Node(split_training_pairs, ["mined_pairs", "queries"], ["mined_positives", "mined_negatives"],
                 name="split_training_pairs"),
            Node(evaluate_mining,
                 ["mined_pairs", "queries", "qrels", "log_mining_mining_report", "log_mining_events_manifest",
                  "params:log_mining.mining", "params:log_mining.quality"],
                 ["log_mining_report", "log_mining_pr_curve", "log_mining_pr_curve_plot", "log_mining_report_md"],
                 name="evaluate_mining"),
        ],
        tags=["log_mining"],
    )
