"""Wiring of the ``log_mining`` pipeline: one Kedro namespace (collapsible group in kedro-viz).

Border: ``products``, ``queries``, ``qrels`` -> ``mined_positives``, ``mined_negatives`` (training pairs with
provenance); the events folder, all mined pairs and the quality report stay inside (``log_mining.*``).
"""

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
                 "events", name="prepare_events"),
            Node(mine_click_logs, ["events", "products", "params:log_mining.mining"],
                 ["mined_pairs", "mining_counts"], name="mine_click_logs"),
            Node(split_training_pairs, ["mined_pairs", "queries"], ["mined_positives", "mined_negatives"],
                 name="split_training_pairs"),
            Node(evaluate_mining,
                 ["mined_pairs", "queries", "qrels", "mining_counts", "events",
                  "params:log_mining.mining", "params:log_mining.quality"],
                 ["report", "pr_curve", "pr_curve_plot", "report_md"],
                 name="evaluate_mining"),
        ],
        namespace="log_mining",
        inputs={"products", "queries", "qrels"},
        outputs={"mined_positives", "mined_negatives"},
        parameters={"log_mining.events", "log_mining.mining", "log_mining.quality"},
        tags=["log_mining"],
    )
