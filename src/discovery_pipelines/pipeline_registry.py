"""Project pipelines: every folder under ``pipelines/`` is discovered; ``__default__`` is the main job."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``__default__`` is ``finetune`` (the main job: ingest -> log mining -> evaluate -> failure
    analysis -> synthetic pairs -> training -> gate -> export) when it exists.

    Returns:
        Mapping from pipeline name to ``Pipeline``.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "finetune" in pipelines:
        pipelines["__default__"] = pipelines["finetune"]
    else:
        pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
