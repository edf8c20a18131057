"""Small real slices of the two order-history datasets (read from ``$DISCOVERY_DATA_ROOT``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    if not folder.exists():
        pytest.fail(f"shared dataset {name} not found at {folder}; set DISCOVERY_DATA_ROOT")
    return folder


@pytest.fixture(scope="session")
def cj_folder(datasets_root: Path) -> Path:
    return _folder(datasets_root, "completejourney")


@pytest.fixture(scope="session")
def ic_folder(datasets_root: Path) -> Path:
    return _folder(datasets_root, "instacart_histories")


@pytest.fixture(scope="session")
def cj_slice(cj_folder: Path) -> dict[str, pd.DataFrame]:
    """Every source line of 60 households (the first 60 ids: fuel buyers, zero-quantity lines included)
    plus the households owning some unknown-product lines, with the full products / demographics tables."""
    ids = list(range(1, 61))
    unknown_owners = [int(h) for h in _unknown_owners(cj_folder)[:3]]
    tr = pq.read_table(cj_folder / "transactions.parquet", filters=[("household_id", "in", ids + unknown_owners)])
    return {
        "transactions": tr.to_pandas(),
        "products": pd.read_parquet(cj_folder / "products.parquet"),
        "demographics": pd.read_parquet(cj_folder / "demographics.parquet"),
    }


def _unknown_owners(folder: Path) -> list[int]:
    t = pq.read_table(folder / "transactions.parquet", columns=["household_id", "product_id", "sales_value"]).to_pandas()
    known = set(pd.read_parquet(folder / "products.parquet", columns=["product_id"])["product_id"])
    bad = t[~t["product_id"].isin(known) & (t["sales_value"] > 0)]
    return sorted(bad["household_id"].unique())


@pytest.fixture(scope="session")
def ic_slice(ic_folder: Path) -> dict[str, pd.DataFrame]:
    """All orders and basket lines of 80 users (40 from each source subset)."""
    users = pd.read_parquet(ic_folder / "users.parquet")
    picked = pd.concat([g.head(40) for _, g in users.groupby("source")])
    orders = pd.read_parquet(ic_folder / "orders.parquet")
    orders = orders[orders["user_id"].isin(set(picked["user_id"]))].reset_index(drop=True)
    op = pd.read_parquet(ic_folder / "order_products.parquet")
    op = op[op["order_id"].isin(set(orders["order_id"]))].reset_index(drop=True)
    return {
        "orders": orders,
        "order_products": op,
        "products": pd.read_parquet(ic_folder / "products.parquet"),
        "users": picked.reset_index(drop=True),
    }


@pytest.fixture(scope="session")
def cj_small(cj_folder: Path):
    """Histories of 120 real households (ids 1..120) with the full products table, split and staged."""
    from discovery_pipelines.data.ingest.completejourney import completejourney_histories
    from discovery_pipelines.personalization.split import split_last_baskets

    tr = pq.read_table(cj_folder / "transactions.parquet", filters=[("household_id", "in", list(range(1, 121)))])
    h = completejourney_histories(tr.to_pandas(), pd.read_parquet(cj_folder / "products.parquet"))
    lines, users = split_last_baskets(h.lines, 3)
    return h, lines, users


@pytest.fixture(scope="session")
def cj_small_text(cj_small, st_model):
    """Title embeddings of the slice's items (project model, embedding cache)."""
    from discovery_pipelines.personalization.items import item_table, text_embeddings

    h, lines, _ = cj_small
    items = item_table(lines, h.products)
    cache = Path(__file__).resolve().parents[2] / "data" / "07_model_output" / "embedding_cache"
    return items, text_embeddings(items, st_model, cache_dir=cache, show_progress=False)
