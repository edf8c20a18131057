"""Wiring of ``multimodal``: one Kedro namespace per stage (collapsible groups in kedro-viz).

ingest -> photos -> text -> product_tower -> queries -> query_tower -> evaluation -> export -> report,
plus ``text_qcc`` (QCC vs MNRL on the text catalogue, fed by the ``ingest`` pipeline's tables).
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines import ingest
from discovery_pipelines.pipelines.multimodal import nodes as n


def _stage(nodes: list[Node], namespace: str) -> Pipeline:
    """Nodes grouped under ``namespace`` (a kedro-viz group); every dataset stays at the border, so the
    catalog names (``mm_*``) are those of ``conf/base/catalog_multimodal.yml``."""
    flat = Pipeline(nodes)
    data = {d for d in flat.datasets() if not d.startswith("params:") and d != "parameters"}
    params = {d.removeprefix("params:") for d in flat.datasets() if d.startswith("params:")}
    return Pipeline(nodes, namespace=namespace, inputs=data & flat.inputs(), outputs=data - flat.inputs(),
                    parameters=params, tags=["multimodal"])


def create_multimodal_stages() -> Pipeline:
    """The multimodal stages alone (the text comparison reads ``products`` / ``queries`` / ``qrels``)."""
    nodes = [
        Node(n.check_parameters, "params:multimodal", "mm_parameters", name="check_parameters",
                 namespace="multimodal.photos"),
        Node(n.ingest_grocery_store, ["mm_raw_items", "mm_raw_classes", "mm_dataset_folder", "params:multimodal.ingest"],
                 ["mm_listings", "mm_classes"], name="ingest_grocery_store", namespace="multimodal.photos"),
        Node(n.decode_photos, ["mm_listings", "mm_dataset_folder", "params:multimodal.photos"],
                 ["mm_pixels", "mm_catalogue", "mm_decode_report"], name="decode_photos", namespace="multimodal.photos"),
        Node(n.encode_texts, ["mm_catalogue", "mm_classes", "params:multimodal.text"],
                 ["mm_class_text_emb", "mm_listing_text_emb"], name="encode_texts", namespace="multimodal.product_tower"),
        Node(n.train_product_tower, ["mm_pixels", "mm_catalogue", "mm_class_text_emb", "params:multimodal.product_tower"],
                 ["mm_product_tower", "mm_product_tower_report"], name="train_product_tower", namespace="multimodal.product_tower"),
        Node(n.encode_catalogue, ["mm_product_tower", "mm_pixels", "mm_catalogue", "mm_listing_text_emb",
                                      "mm_class_text_emb", "params:multimodal.product_tower",
                                      "params:multimodal.enrichment"],
                 ["mm_product_vectors", "mm_image_features", "mm_photo_class_posterior", "mm_enrichment_report"],
                 name="encode_catalogue", namespace="multimodal.product_tower"),
        Node(n.generate_training_queries, ["mm_classes", "mm_dev_queries", "params:multimodal.training_queries"],
                 ["mm_training_queries", "mm_training_query_stats"], name="generate_training_queries",
                 namespace="multimodal.query_tower"),
        Node(n.train_query_tower, ["mm_product_tower", "mm_product_vectors", "mm_catalogue", "mm_training_queries",
                                       "params:multimodal.query_tower"],
                 ["mm_query_tower", "mm_query_tower_report"], name="train_query_tower", namespace="multimodal.query_tower"),
        Node(n.evaluate_classification, ["mm_product_tower", "mm_product_vectors", "mm_image_features", "mm_catalogue",
                                             "mm_classes", "mm_class_text_emb", "mm_listing_text_emb",
                                             "params:multimodal.evaluation", "params:multimodal.enrichment"],
                 ["mm_classification", "mm_coarse_confusion_plot"], name="evaluate_classification", namespace="multimodal.evaluation"),
        Node(n.evaluate_retrieval, ["mm_query_tower", "mm_product_vectors", "mm_listing_text_emb", "mm_catalogue",
                                        "mm_classes", "mm_class_text_emb", "mm_photo_class_posterior", "mm_dev_queries",
                                        "params:multimodal.evaluation",
                                        "params:multimodal.text", "params:multimodal.enrichment"],
                 ["mm_retrieval", "mm_retrieval_per_query", "mm_query_grid_plot"], name="evaluate_retrieval",
                 namespace="multimodal.evaluation"),
        Node(n.compare_text_losses, ["products", "queries", "qrels", "params:multimodal.text_qcc"], "mm_qcc_vs_mnrl",
                 name="compare_text_losses", namespace="multimodal.text_qcc"),
        Node(n.export_listing_index, ["mm_query_tower", "mm_product_vectors", "mm_catalogue", "mm_product_tower_report",
                                          "params:multimodal.export"],
                 "mm_index", name="export_listing_index", namespace="multimodal.export"),
        Node(n.export_caption_index, ["mm_catalogue", "mm_listing_text_emb", "mm_class_text_emb",
                                      "mm_photo_class_posterior", "params:multimodal.export"],
                 "mm_caption_index", name="export_caption_index", namespace="multimodal.export"),
        Node(n.report, ["mm_classification", "mm_retrieval", "mm_qcc_vs_mnrl", "mm_product_tower_report",
                            "mm_query_tower_report", "mm_decode_report", "mm_training_query_stats",
                            "mm_enrichment_report"],
                 ["mm_metrics", "mm_training_curves_plot"], name="report", namespace="multimodal.report"),
    ]
    stages: dict[str, list[Node]] = {}
    for node in nodes:
        stages.setdefault(node.namespace, []).append(node)
    def bare(nd: Node) -> Node:   # the node without its namespace (the stage pipeline adds it)
        outs = nd.outputs[0] if len(nd.outputs) == 1 else nd.outputs
        return Node(nd.func, nd.inputs, outs, name=nd.name.split(".")[-1])

    return sum((_stage([bare(nd) for nd in group], ns) for ns, group in stages.items()), Pipeline([]))


def create_pipeline(**kwargs) -> Pipeline:
    return ingest.create_pipeline() + create_multimodal_stages()
