"""Wiring of ``finetune``: the sum of the stage pipelines (each stays runnable on its own)."""

from kedro.pipeline import Pipeline

from discovery_pipelines.pipelines import (
    evaluate,
    failure_analysis,
    ingest,
    log_mining,
    synthetic,
    training,
)

STAGES = (ingest, log_mining, evaluate, failure_analysis, synthetic, training)


def create_pipeline(**kwargs) -> Pipeline:
    return sum((stage.create_pipeline() for stage in STAGES), Pipeline([]))
