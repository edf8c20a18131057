"""Wiring of ``personalization`` (issue #17): data -> features / baselines / two-tower / semantic IDs ->
ranker -> report and export. Stages are Kedro namespaces (collapsible groups in kedro-viz); dataset
names are not prefixed."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.personalization import nodes as n

P = "params:personalization"


def _stage(name: str, nodes: list[Node]) -> Pipeline:
    return Pipeline(nodes, namespace=f"personalization.{name}", prefix_datasets_with_namespace=False)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            _stage("data", [
                Node(n.validate_parameters, P, "personalization_parameters", name="validate_parameters"),
                Node(n.ingest_histories, [f"{P}.dataset", "personalization_source"],
                     ["histories_lines", "histories_products", "histories_users", "personalization_ingest_decisions"],
                     name="ingest_histories"),
                Node(n.split_histories, ["histories_lines", f"{P}.split"],
                     ["personalization_split_lines", "personalization_split_users"], name="split_histories"),
            ]),
            _stage("features", [
                Node(n.build_stage_features, ["personalization_split_lines", f"{P}.features"],
                     "personalization_stage_features", name="build_stage_features"),
            ]),
            _stage("baselines", [
                Node(n.run_baselines, ["personalization_split_lines", f"{P}.baselines", f"{P}.evaluation"],
                     ["personalization_baseline_runs", "personalization_baseline_report"], name="run_baselines"),
            ]),
            _stage("two_tower", [
                Node(n.embed_items, ["personalization_split_lines", "histories_products", f"{P}.text"],
                     ["personalization_items", "personalization_item_text_embeddings"], name="embed_items"),
                Node(n.train_two_tower,
                     ["personalization_split_lines", "personalization_item_text_embeddings", f"{P}.two_tower"],
                     ["personalization_two_tower", "personalization_two_tower_report"], name="train_two_tower"),
                Node(n.two_tower_retrieval,
                     ["personalization_two_tower", "personalization_split_lines", f"{P}.evaluation"],
                     ["personalization_item_vectors", "personalization_two_tower_runs"], name="two_tower_retrieval"),
            ]),
            _stage("explore", [
                Node(n.run_explore, ["personalization_split_lines", "personalization_items", f"{P}.explore"],
                     "personalization_explore_runs", name="run_explore"),
            ]),
            _stage("semantic_ids", [
                Node(n.build_semantic_ids,
                     ["personalization_item_text_embeddings", "personalization_items", "personalization_item_vectors",
                      "personalization_two_tower_runs", "personalization_split_lines", f"{P}.semantic_ids"],
                     ["personalization_semantic_ids", "personalization_semantic_id_stats"], name="build_semantic_ids"),
            ]),
            _stage("ranker", [
                Node(n.build_ranker_rows,
                     ["personalization_split_lines", "personalization_stage_features", "personalization_baseline_runs",
                      "personalization_two_tower_runs", "personalization_item_vectors", "personalization_semantic_ids",
                      f"{P}.ranker"],
                     "personalization_ranker_rows", name="build_ranker_rows"),
                Node(n.train_ranker, ["personalization_ranker_rows", f"{P}.ranker"],
                     ["personalization_ranker", "personalization_ranker_report"], name="train_ranker"),
                Node(n.score_candidates, ["personalization_ranker", "personalization_ranker_rows"],
                     "personalization_scored_candidates", name="score_candidates"),
            ]),
            _stage("report", [
                Node(n.evaluate_personalization,
                     ["personalization_split_lines", "personalization_split_users", "personalization_baseline_runs",
                      "personalization_two_tower_runs", "personalization_explore_runs",
                      "personalization_scored_candidates", "personalization_semantic_id_stats", "personalization_ingest_decisions",
                      "personalization_ranker_report", "personalization_two_tower_report",
                      "personalization_baseline_report", f"{P}.blend", f"{P}.evaluation"],
                     ["personalization_metrics", "personalization_per_user", "personalization_plot",
                      "personalization_tradeoff_plot", "personalization_report_md"], name="evaluate_personalization"),
                Node(n.export_recommender,
                     ["personalization_two_tower", "personalization_item_vectors", "personalization_items",
                      "personalization_split_lines", "personalization_split_users", "personalization_ranker",
                      "personalization_ranker_rows", "personalization_explore_runs", f"{P}.blend", f"{P}.dataset"],
                     "personalization_recommender", name="export_recommender"),
            ]),
        ],
        tags=["personalization"],
    )
