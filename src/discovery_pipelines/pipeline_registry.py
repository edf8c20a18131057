"""Project pipelines: every folder under ``pipelines/`` is discovered by ``find_pipelines``.

``finetune`` (also ``__default__``) is the main job; see ``pipelines/finetune/pipeline.py``.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        Mapping from pipeline name to ``Pipeline``; ``__default__`` is ``finetune``.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "finetune" in pipelines:
        pipelines["__default__"] = pipelines["finetune"]
    return pipelines
