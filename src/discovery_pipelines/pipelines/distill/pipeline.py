"""Wiring of ``distill`` (namespace ``distill``: one collapsible group in kedro-viz). Inputs at its border: the
contract tables, the synthetic queries, the candidate (the student's initialisation and the dense half of the
hybrid candidates) and the quality stage's cross-encoder teacher; outputs: ``student_model``,
``student_summary``, ``label_expansion_stats`` and ``distill.metrics`` (data/08_reporting/distill/metrics.json)."""

from kedro.pipeline import Node, Pipeline

from discovery_pipelines.pipelines.distill import nodes as n


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(n.expand_training_labels,
                 ["quality.teacher_model", "candidate_model", "products", "queries", "qrels", "synthetic_pairs",
                  "params:distill.expansion", "params:finetune.models"],
                 ["teacher_labels", "label_expansion_stats"], name="expand_training_labels"),
            Node(n.build_student_examples, ["teacher_labels", "products", "params:distill.examples"],
                 ["student_examples", "student_example_stats"], name="build_student_examples"),
            Node(n.train_student,
                 ["student_examples", "candidate_model", "products", "queries", "qrels", "params:distill.train",
                  "params:distill.dev_eval", "params:distill.work_dir"],
                 ["student_model", "student_summary"], name="train_student"),
            Node(n.report_distill, ["label_expansion_stats", "student_example_stats", "student_summary"], "metrics",
                 name="report_distill"),
        ],
        namespace="distill",
        inputs={"quality.teacher_model", "candidate_model", "products", "queries", "qrels", "synthetic_pairs"},
        outputs={"student_model", "student_summary", "label_expansion_stats"},
        parameters={"distill.expansion", "distill.examples", "distill.train", "distill.dev_eval", "distill.work_dir",
                    "finetune.models"},
        tags=["distill"],
    )
