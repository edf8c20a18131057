"""Project pipelines: every folder under ``pipelines/`` is discovered; ``finetune`` chains them.

``finetune`` (also ``__default__``) = ingest -> log_mining -> evaluate -> failure_analysis ->
synthetic -> training (pairs, hard negatives, reference + candidate training, evaluation, gate,
export).
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

FINETUNE_CHAIN = ("ingest", "log_mining", "evaluate", "failure_analysis", "synthetic", "training")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        Mapping from pipeline name to ``Pipeline``; ``finetune`` and ``__default__`` are the main job.
    """
    pipelines = find_pipelines(raise_errors=True)
    chain = [pipelines[name] for name in FINETUNE_CHAIN if name in pipelines]
    pipelines["finetune"] = sum(chain, Pipeline([]))
    pipelines["__default__"] = pipelines["finetune"]
    return pipelines
