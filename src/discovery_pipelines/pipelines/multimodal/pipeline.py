"""Wiring of ``multimodal``: one Kedro namespace per stage (collapsible groups in kedro-viz).

ingest -> photos -> text -> product_tower -> queries -> query_tower -> evaluation -> export -> report,
plus ``text_qcc`` (QCC vs MNRL on the text catalogue, fed by the ``ingest`` pipeline's tables).
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines import ingest
from discovery_pipelines.pipelines.multimodal import nodes as n


def create_multimodal_stages() -> Pipeline:
    """The multimodal stages alone (the text comparison reads ``products`` / ``queries`` / ``qrels``)."""
    return Pipeline(
        [
            Node(n.check_parameters, "params:multimodal", "mm_parameters", name="check_parameters",
                 namespace="ingest_photos"),
            Node(n.ingest_grocery_store, ["mm_raw_items", "mm_raw_classes", "mm_dataset_folder", "params:multimodal.ingest"],
                 ["mm_listings", "mm_classes"], name="ingest_grocery_store", namespace="ingest_photos"),
            Node(n.decode_photos, ["mm_listings", "mm_dataset_folder", "params:multimodal.photos"],
                 ["mm_pixels", "mm_catalogue", "mm_decode_report"], name="decode_photos", namespace="ingest_photos"),
            Node(n.encode_texts, ["mm_catalogue", "mm_classes", "params:multimodal.text"],
                 ["mm_class_text_emb", "mm_listing_text_emb"], name="encode_texts", namespace="product_tower"),
            Node(n.train_product_tower, ["mm_pixels", "mm_catalogue", "mm_class_text_emb", "params:multimodal.product_tower"],
                 ["mm_product_tower", "mm_product_tower_report"], name="train_product_tower", namespace="product_tower"),
            Node(n.encode_catalogue, ["mm_product_tower", "mm_pixels", "mm_catalogue", "mm_listing_text_emb",
                                      "params:multimodal.product_tower"],
                 ["mm_product_vectors", "mm_image_features"], name="encode_catalogue", namespace="product_tower"),
            Node(n.generate_training_queries, ["mm_classes", "mm_dev_queries", "params:multimodal.training_queries"],
                 ["mm_training_queries", "mm_training_query_stats"], name="generate_training_queries",
                 namespace="query_tower"),
            Node(n.train_query_tower, ["mm_product_tower", "mm_product_vectors", "mm_catalogue", "mm_training_queries",
                                       "params:multimodal.query_tower"],
                 ["mm_query_tower", "mm_query_tower_report"], name="train_query_tower", namespace="query_tower"),
            Node(n.evaluate_classification, ["mm_product_tower", "mm_product_vectors", "mm_image_features", "mm_catalogue",
                                             "mm_classes", "mm_class_text_emb", "mm_listing_text_emb",
                                             "params:multimodal.evaluation"],
                 ["mm_classification", "mm_coarse_confusion_plot"], name="evaluate_classification", namespace="evaluation"),
            Node(n.evaluate_retrieval, ["mm_query_tower", "mm_product_vectors", "mm_listing_text_emb", "mm_catalogue",
                                        "mm_classes", "mm_class_text_emb", "mm_dev_queries", "params:multimodal.evaluation"],
                 ["mm_retrieval", "mm_retrieval_per_query", "mm_query_grid_plot"], name="evaluate_retrieval",
                 namespace="evaluation"),
            Node(n.compare_text_losses, ["products", "queries", "qrels", "params:multimodal.text_qcc"], "mm_qcc_vs_mnrl",
                 name="compare_text_losses", namespace="text_qcc"),
            Node(n.export_listing_index, ["mm_query_tower", "mm_product_vectors", "mm_catalogue", "mm_product_tower_report",
                                          "params:multimodal.export"],
                 "mm_index", name="export_listing_index", namespace="export"),
            Node(n.report, ["mm_classification", "mm_retrieval", "mm_qcc_vs_mnrl", "mm_product_tower_report",
                            "mm_query_tower_report", "mm_decode_report", "mm_training_query_stats"],
                 ["mm_metrics", "mm_training_curves_plot"], name="report", namespace="report"),
        ],
        tags=["multimodal"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return ingest.create_pipeline() + create_multimodal_stages()
