"""Wiring of ``finetune``, the main job: the upstream stage pipelines (each its own namespace and runnable on
its own) plus the fine-tuning stages, each a Kedro namespace under ``finetune`` (nested collapsible groups in
kedro-viz) whose inputs and outputs sit at its border:

- ``finetune.pairs``: qrels + log-mined + synthetic pairs -> hard negatives -> typo augmentation
  (border out: ``training_examples``, ``training_pair_stats``, ``hard_negative_stats``, ``augmentation_stats``);
- ``finetune.train``: the reference recipe, the candidate and its WiSE-FT interpolation
  (border out: ``reference_model``, ``candidate_model`` and their summaries);
- ``distill`` (``pipelines/distill``): label expansion by the quality stage's teacher and the distilled student
  (initialised from the candidate);
- ``finetune.release``: per-split evaluation of base / reference / candidate / student, the regression gate
  (it promotes the better passing one of candidate and student on dev), the export (with the quality stage's
  serving choice and re-ranker) and the report;
- ``quality`` (``pipelines/quality``): cross-encoder teacher, hybrid fusion tuned on dev, re-ranking, the
  comparison of every served mode and the served default mode.
"""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines import distill, evaluate, failure_analysis, ingest, log_mining, quality, synthetic
from discovery_pipelines.pipelines.finetune import nodes as n

UPSTREAM = (ingest, log_mining, evaluate, failure_analysis, synthetic)
TABLES = {"products", "queries", "qrels"}


def create_pairs_pipeline() -> Pipeline:
    """``finetune.pairs``: training pairs, hard negatives and typo augmentation."""
    return Pipeline(
        [
            Node(n.assemble_training_pairs,
                 ["products", "queries", "qrels", "mined_positives", "synthetic_pairs", "params:finetune.data"],
                 ["training_pairs", "training_pair_stats"], name="assemble_training_pairs"),
            Node(n.add_hard_negatives,
                 ["training_pairs", "products", "queries", "qrels", "params:finetune.negatives",
                  "params:finetune.models"],
                 ["with_negatives", "hard_negative_stats"], name="add_hard_negatives"),
            Node(n.augment_queries, ["with_negatives", "queries", "params:finetune.augment"],
                 ["training_examples", "augmentation_stats"], name="augment_queries"),
        ],
        namespace="finetune.pairs",
        inputs=TABLES | {"mined_positives", "synthetic_pairs"},
        outputs={"training_examples", "training_pair_stats", "hard_negative_stats", "augmentation_stats"},
        parameters={"finetune.data", "finetune.negatives", "finetune.models", "finetune.augment"},
    )


def create_train_pipeline() -> Pipeline:
    """``finetune.train``: reference recipe, candidate, WiSE-FT interpolation."""
    return Pipeline(
        [
            Node(n.train_reference,
                 ["products", "queries", "qrels", "params:finetune.reference", "params:finetune.models"],
                 ["reference_model", "reference_summary"], name="train_reference"),
            Node(n.train_candidate,
                 ["training_examples", "products", "queries", "qrels", "params:finetune.candidate.train",
                  "params:finetune.candidate.dev_eval", "params:finetune.models",
                  "params:finetune.candidate.throughput_check_steps"],
                 ["finetuned_model", "candidate_summary"], name="train_candidate"),
            Node(n.interpolate_candidate,
                 ["finetuned_model", "params:finetune.candidate.wise_alpha", "params:finetune.models"],
                 ["candidate_model", "interpolation_stats"], name="interpolate_candidate"),
        ],
        namespace="finetune.train",
        inputs=TABLES | {"training_examples"},
        outputs={"reference_model", "reference_summary", "candidate_model", "candidate_summary",
                 "interpolation_stats"},
        parameters={"finetune.reference", "finetune.models", "finetune.candidate.train",
                    "finetune.candidate.dev_eval", "finetune.candidate.throughput_check_steps",
                    "finetune.candidate.wise_alpha"},
    )


def create_release_pipeline() -> Pipeline:
    """``finetune.release``: evaluation, regression gate, export of a passing candidate, report."""
    return Pipeline(
        [
            Node(n.evaluate_models,
                 ["products", "queries", "qrels", "reference_model", "candidate_model", "params:evaluate",
                  "params:finetune.models", "student_model"],
                 ["per_query", "metrics"], name="evaluate_models"),
            Node(n.gate, ["per_query", "params:finetune.gate"], "gate_decision", name="gate"),
            Node(n.promote, ["gate_decision", "candidate_model", "products", "params:finetune.export",
                             "params:finetune.models", "quality.serving_choice", "quality.teacher_model",
                             "student_model", "quality.ltr_ranker"],
                 ["production_model", "search_index", "promotion"], name="promote"),
            Node(n.report, ["metrics", "gate_decision", "reference_summary", "candidate_summary",
                            "training_pair_stats", "hard_negative_stats", "promotion", "interpolation_stats",
                            "student_summary"],
                 ["report_md", "comparison_plot", "gate_report"], name="report"),
        ],
        namespace="finetune.release",
        inputs=TABLES | {"reference_model", "candidate_model", "reference_summary", "candidate_summary",
                         "training_pair_stats", "hard_negative_stats", "interpolation_stats",
                         "quality.serving_choice", "quality.teacher_model", "student_model", "student_summary",
                         "quality.ltr_ranker"},
        outputs={"production_model", "search_index"},
        parameters={"evaluate", "finetune.models", "finetune.gate", "finetune.export"},
    )


def create_training_pipeline() -> Pipeline:
    """The fine-tuning stages alone (their inputs come from the upstream stages' outputs)."""
    return Pipeline([create_pairs_pipeline(), create_train_pipeline(), create_release_pipeline()],
                    tags=["finetune"])


def create_pipeline(**kwargs) -> Pipeline:
    return (sum((stage.create_pipeline() for stage in UPSTREAM), Pipeline([])) + create_training_pipeline()
            + distill.create_pipeline() + quality.create_pipeline())
