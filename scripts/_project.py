"""What the hand-run scripts share with ``kedro run``: the project's parameters, its query splits, and the
provenance (command, machine, date, load) every figure in ``results/`` carries.

Scripts run as ``.venv/bin/python scripts/<name>.py`` from the project root, so this module is importable
as ``_project``. Reading the splits from ``conf/`` keeps every benchmark on exactly the dev / holdout queries
the pipeline uses (``ingest.splits`` in ``conf/base/parameters_ingest.yml``).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import OmegaConfigLoader

from discovery_pipelines.settings import CONFIG_LOADER_ARGS
from discovery_pipelines.data.splits import assign_splits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def provenance() -> dict[str, Any]:
    """``{command, date_utc, machine: {cpu, cores, amx, avx512_bf16, platform, python}, loadavg_1_5_15}``.

    The CPU model and flags come from ``/proc/cpuinfo`` (Linux; ``None`` elsewhere). Figures measured on the
    shared 2-core machine depend on the load, so it is recorded next to them.
    """
    cpu, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "model name" and cpu is None:
                cpu = val.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(val.split())
    except OSError:
        pass
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "amx": "amx_bf16" in flags,
                    "avx512_bf16": "avx512_bf16" in flags, "platform": platform.platform(),
                    "python": platform.python_version()},
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


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


def sample_split(queries: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
    """The ``split`` rows of ``queries`` (``split`` column), or a seeded sample of ``n`` of them (``n <= 0``: all)."""
    s = queries[queries["split"] == split]
    return s if n <= 0 or n >= len(s) else s.sample(n=n, random_state=seed)
