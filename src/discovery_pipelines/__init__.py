"""discovery-pipelines: domain-tuned semantic product search, built and gated as Kedro pipelines.

The plain modules (``contract``, ``ingest``, ``evaluation``, ``retrieval``, ``metrics`` ...) are
usable without Kedro; ``pipelines/`` only wires them into Kedro nodes.
"""

import os as _os
import sys as _sys
import warnings as _warnings

# pandera imports pyspark.pandas when pyspark is installed; its pandas-3 notice is not ours to act on.
_warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")

# Model weights are never fetched at run time: everything loads from installed paths.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Telemetry off unless the user opts in: Kedro's (kedro-telemetry; the committed `.telemetry` file says
# `consent: false` for `kedro` commands run before this package is imported) and MLflow's (3.x sends usage
# events unless MLFLOW_DISABLE_TELEMETRY or DO_NOT_TRACK is set).
_os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
_os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
if "mlflow.telemetry" in _sys.modules:  # mlflow was imported first (kedro-mlflow's CLI plugin): drop its client
    _sys.modules["mlflow.telemetry"].set_telemetry_client()
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# CPU torch + the registry's CUDA torchvision wheel: declare the two operators torchvision 0.28 needs
# at import (multimodal/vision_compat.py). An import hook: nothing is imported until torchvision is.
from discovery_pipelines.multimodal import vision_compat as _vision_compat  # noqa: E402

_vision_compat.install()

__version__ = "0.1.0"
