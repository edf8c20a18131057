"""Wiring of ``quality`` (namespace ``quality``: one collapsible group in kedro-viz). Inputs at its border:
the contract tables, the reference, candidate and distilled student models, the distill stage's summaries and
the gate decision of the fine-tuning stage (which contender it promotes)."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.quality import nodes as n


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(n.build_teacher_examples, ["products", "queries", "qrels", "params:quality"],
                 ["teacher_examples", "teacher_example_stats"], name="build_teacher_examples"),
            Node(n.train_teacher_model, ["teacher_examples", "params:quality"], ["teacher_model", "teacher_summary"],
                 name="train_teacher_model"),
            Node(n.compare_modes, ["products", "queries", "qrels", "reference_model", "candidate_model",
                                   "teacher_model", "params:quality", "params:finetune.models", "student_model",
                                   "gate_decision"],
                 ["per_query", "metrics", "serving_choice", "ltr_ranker"], name="compare_modes"),
            Node(n.report, ["metrics", "teacher_summary", "teacher_example_stats", "label_expansion_stats",
                            "gate_decision", "student_summary"],
                 ["report", "plot"], name="report"),
        ],
        namespace="quality",
        inputs={**{d: d for d in ("products", "queries", "qrels", "reference_model", "candidate_model",
                                  "student_model", "student_summary", "label_expansion_stats")},
                "gate_decision": "finetune.release.gate_decision"},
        parameters={"params:quality", "params:finetune.models"},
        tags=["quality"],
    )
