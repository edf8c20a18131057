"""Thin MLflow helpers that are no-ops when no run is active (plain Python use, tests).

Under ``kedro run`` kedro-mlflow opens the run (tracking URI from ``conf/*/mlflow.yml``, SQLite by
default) and logs parameters; nodes add metrics, tags, per-step training metrics and the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def _active() -> Any:
    try:
        import mlflow

        return mlflow if mlflow.active_run() is not None else None
    except Exception:  # pragma: no cover - mlflow missing or misconfigured
        return None


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log the finite numeric values of ``metrics`` to the active MLflow run, if any."""
    mlflow = _active()
    if mlflow is None:
        return
    clean = {k: float(v) for k, v in metrics.items()
             if isinstance(v, (int, float, bool)) and math.isfinite(float(v))}
    if clean:
        mlflow.log_metrics(clean, step=step)


def set_tags(tags: Mapping[str, str]) -> None:
    """Set tags on the active MLflow run, if any."""
    mlflow = _active()
    if mlflow is not None:
        mlflow.set_tags(dict(tags))


def register_model(model: Any, name: str, alias: str = "production") -> int | None:
    """Log ``model`` with MLflow's ``sentence_transformers`` flavor to the active run, register it as a
    new version of ``name`` and point ``alias`` at it, so that
    ``mlflow.sentence_transformers.load_model(f"models:/{name}@{alias}")`` (or
    :func:`discovery_pipelines.search.models.load_model` with that URI) returns the SentenceTransformer.

    Args:
        model: a loaded ``SentenceTransformer``, a model folder or a packaged model name
            (:func:`discovery_pipelines.search.models.load_model`).
        name: registered model name; created on first use.
        alias: alias moved to the new version.

    Returns:
        The new version number, or None when no MLflow run is active (nothing is logged).
    """
    mlflow = _active()
    if mlflow is None:
        return None
    import mlflow.sentence_transformers
    import sentence_transformers
    import torch
    import transformers
    from mlflow import MlflowClient

    from discovery_pipelines.search.models import load_model

    st = load_model(model, device="cpu")
    # Explicit requirements: MLflow's inference would re-import the model in a subprocess.
    reqs = [f"sentence-transformers=={sentence_transformers.__version__}",
            f"transformers=={transformers.__version__}", f"torch=={torch.__version__.split('+')[0]}"]
    info = mlflow.sentence_transformers.log_model(st, name="model", registered_model_name=name,
                                                  pip_requirements=reqs)
    version = int(info.registered_model_version)
    MlflowClient().set_registered_model_alias(name, alias, str(version))
    return version


try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


class MlflowStepCallback(TrainerCallback):  # type: ignore[misc]
    """Forward the trainer's logs (loss, learning rate, dev evaluation) to MLflow at each step."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs:
            log_metrics({f"{self.prefix}{k.replace('@', '_at_')}": v for k, v in logs.items()}, step=state.global_step)
