"""What the hand-run scripts share with ``kedro run``: the project's parameters and its query splits.

Scripts run as ``.venv/bin/python scripts/<name>.py`` from the project root, so this module is importable
as ``_project``. Reading the splits from ``conf/`` keeps every benchmark on exactly the dev / holdout queries
the pipeline uses (``ingest.splits`` in ``conf/base/parameters_ingest.yml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import OmegaConfigLoader

from discovery_pipelines.settings import CONFIG_LOADER_ARGS
from discovery_pipelines.data.splits import assign_splits

ROOT = Path(__file__).resolve().parents[1]


def project_params() -> dict[str, Any]:
    """The merged parameters of ``conf/base`` + ``conf/local`` (what a plain ``kedro run`` sees)."""
    return OmegaConfigLoader(str(ROOT / "conf"), **CONFIG_LOADER_ARGS)["parameters"]


def project_splits(queries: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """``queries`` with the pipeline's ``split`` column (salted hash of the normalised query, see
    :func:`discovery_pipelines.data.splits.assign_splits`), using ``ingest.splits.fractions`` / ``salt``.

    Raises:
        KeyError: the parameters have no ``ingest.splits.fractions``.
    """
    sp = (params if params is not None else project_params())["ingest"]["splits"]
    return assign_splits(queries, dict(sp["fractions"]), salt=str(sp.get("salt", "discovery")))
