"""Wiring of ``quality`` (namespace ``quality``: one collapsible group in kedro-viz). Inputs at its border:
the contract tables, the reference and candidate models and the gate decision of the fine-tuning stage."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.quality import nodes as n


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(n.build_teacher_examples, ["products", "queries", "qrels", "params:quality"],
                 ["teacher_examples", "teacher_example_stats"], name="build_teacher_examples"),
            Node(n.train_teacher_model, ["teacher_examples", "params:quality"], ["teacher_model", "teacher_summary"],
                 name="train_teacher_model"),
            Node(n.expand_training_labels, ["teacher_model", "products", "queries", "qrels", "synthetic_pairs",
                                            "params:quality"],
                 ["teacher_labels", "label_expansion_stats"], name="expand_training_labels"),
            Node(n.compare_modes, ["products", "queries", "qrels", "reference_model", "candidate_model",
                                   "teacher_model", "params:quality", "params:finetune.models"],
                 ["per_query", "metrics", "serving_choice"], name="compare_modes"),
            Node(n.report, ["metrics", "teacher_summary", "teacher_example_stats", "label_expansion_stats",
                            "gate_decision"],
                 ["report", "plot"], name="report"),
        ],
        namespace="quality",
        inputs={**{d: d for d in ("products", "queries", "qrels", "reference_model", "candidate_model",
                                  "synthetic_pairs")},
                "gate_decision": "finetune.release.gate_decision"},
        parameters={"params:quality", "params:finetune.models"},
        tags=["quality"],
    )
