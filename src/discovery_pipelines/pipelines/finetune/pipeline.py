"""Wiring of ``finetune``: the upstream stage pipelines (each runnable on its own) plus the
fine-tuning stage (pairs, hard negatives, reference + candidate, WiSE-FT, evaluation, gate, export)."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines import evaluate, failure_analysis, ingest, log_mining, quality, synthetic
from discovery_pipelines.pipelines.finetune import nodes as n

UPSTREAM = (ingest, log_mining, evaluate, failure_analysis, synthetic)


def create_training_pipeline() -> Pipeline:
    """The fine-tuning stage alone (its inputs come from the upstream stages' outputs)."""
    return Pipeline(
        [
            Node(n.assemble_training_pairs,
                 ["products", "queries", "qrels", "mined_positives", "synthetic_pairs", "params:finetune.data"],
                 ["training_pairs", "training_pair_stats"], name="assemble_training_pairs"),
            Node(n.add_hard_negatives,
                 ["training_pairs", "products", "queries", "qrels", "params:finetune.negatives", "params:finetune.models"],
                 ["training_examples", "hard_negative_stats"], name="mine_hard_negatives"),
            Node(n.augment_queries, ["training_examples", "queries", "params:finetune.augment"],
                 ["training_examples_augmented", "augmentation_stats"], name="augment_queries"),
            Node(n.train_reference, ["products", "queries", "qrels", "params:finetune.reference", "params:finetune.models"],
                 ["reference_model", "reference_summary"], name="train_reference_recipe"),
            Node(n.train_candidate,
                 ["training_examples_augmented", "products", "queries", "qrels", "params:finetune.candidate.train",
                  "params:finetune.candidate.dev_eval", "params:finetune.models",
                  "params:finetune.candidate.throughput_check_steps"],
                 ["finetuned_model", "candidate_summary"], name="train_candidate"),
            Node(n.interpolate_candidate,
                 ["finetuned_model", "params:finetune.candidate.wise_alpha", "params:finetune.models"],
                 ["candidate_model", "interpolation_stats"], name="wise_ft_interpolation"),
            Node(n.evaluate_models,
                 ["products", "queries", "qrels", "reference_model", "candidate_model", "params:evaluate",
                  "params:finetune.models"],
                 ["finetune_per_query", "finetune_metrics"], name="evaluate_models"),
            Node(n.gate, ["finetune_per_query", "params:finetune.gate"], "gate_decision", name="regression_gate"),
            Node(n.promote, ["gate_decision", "candidate_model", "products", "params:finetune.export",
                             "params:finetune.models", "quality.serving_choice", "quality.teacher_model"],
                 "promotion", name="promote_and_export"),
            Node(n.report, ["finetune_metrics", "gate_decision", "reference_summary", "candidate_summary",
                            "training_pair_stats", "hard_negative_stats", "promotion", "interpolation_stats"],
                 ["finetune_report", "finetune_plot", "gate_report"], name="finetune_report"),
        ],
        tags=["finetune"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return (sum((stage.create_pipeline() for stage in UPSTREAM), Pipeline([])) + create_training_pipeline()
            + quality.create_pipeline())
