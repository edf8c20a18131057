"""Wiring of the ``carousels`` pipeline: one node per stage, each stage a Kedro namespace."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.carousels.nodes import (
    build_user_profiles,
    evaluate_carousels,
    generate_carousels,
    load_histories,
    moderate_carousels,
    rerank_carousel_items,
    retrieve_carousel_items,
    rewrite_queries,
)

P = "params:carousels"


def create_pipeline(**kwargs) -> Pipeline:
    """raw histories -> profiles -> carousels -> jury -> masked KNN -> block re-ranking -> rewriting /
    hierarchical RAG -> metrics + HTML page (``data/08_reporting/carousels/<dataset>/``)."""
    return Pipeline([
        Node(load_histories, ["carousels_raw", P],
             ["carousels_lines", "carousels_products", "carousels_histories_stats"],
             name="load_histories", namespace="carousels.histories"),
        Node(build_user_profiles, ["carousels_lines", "carousels_products", P],
             ["carousels_profiles", "carousels_visit_context", "carousels_history", "carousels_next_baskets",
              "carousels_profile_stats"], name="build_user_profiles", namespace="carousels.profiles"),
        Node(generate_carousels, ["carousels_profiles", "carousels_visit_context", "carousels_history",
                                  "carousels_products", P],
             ["carousels_generated", "carousels_generation_stats"], name="generate_carousels", namespace="carousels.generation"),
        Node(moderate_carousels, ["carousels_generated", "carousels_jury_titles", "carousels_products", P],
             ["carousels_moderated", "carousels_jury_report"], name="moderate_carousels", namespace="carousels.moderation"),
        Node(retrieve_carousel_items, ["carousels_moderated", "carousels_history", "carousels_products", P],
             ["carousels_candidates", "carousels_store_carousels", "carousels_knn_report"],
             name="retrieve_carousel_items", namespace="carousels.retrieval"),
        Node(rerank_carousel_items, ["carousels_candidates", "carousels_history", "carousels_next_baskets", P],
             ["carousels_items", "carousels_rerank_report"], name="rerank_carousel_items", namespace="carousels.reranking"),
        Node(rewrite_queries, ["carousels_rewrite_set", "carousels_relevance_set", "carousels_history",
                               "carousels_products", P],
             "carousels_rewrite_report", name="rewrite_queries", namespace="carousels.rewriting"),
        Node(evaluate_carousels,
             ["carousels_items", "carousels_moderated", "carousels_store_carousels", "carousels_profiles",
              "carousels_history", "carousels_next_baskets", "carousels_products", "carousels_relevance_set",
              "carousels_profile_stats", "carousels_generation_stats", "carousels_jury_report",
              "carousels_knn_report", "carousels_rerank_report", "carousels_rewrite_report", P],
             ["carousels_metrics", "carousels_page"], name="evaluate_carousels", namespace="carousels.evaluation"),
    ])
