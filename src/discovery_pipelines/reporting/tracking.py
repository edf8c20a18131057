"""Thin MLflow helpers that are no-ops when no run is active (plain Python use, tests).

Under ``kedro run`` kedro-mlflow opens the run (tracking URI from ``conf/*/mlflow.yml``, SQLite by
default) and logs parameters; nodes add metrics, tags, per-step training metrics and the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
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


def register_model(model_dir: str | Path, name: str, alias: str = "production") -> int | None:
    """Log ``model_dir`` as an artifact of the active run, register it as a new version of ``name``
    and point ``alias`` at it. Returns the version number (None without an active run)."""
    mlflow = _active()
    if mlflow is None:
        return None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    run = mlflow.active_run()
    mlflow.log_artifacts(str(model_dir), artifact_path="model")
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="domain-tuned product-search embedding model")
    mv = client.create_model_version(name, mlflow.get_artifact_uri("model"), run_id=run.info.run_id)
    client.set_registered_model_alias(name, alias, mv.version)
    return int(mv.version)


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
