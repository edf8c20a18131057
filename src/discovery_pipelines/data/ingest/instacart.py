"""Instacart Market Basket (2017) catalogue adapter: products + aisles + departments.

``category_path`` is ``"{department} > {aisle}"``. There are no queries or judgments.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from discovery_pipelines.data.ingest.base import Dataset, read_table, require_file


def load_instacart(folder: str | Path, *, full_catalogue: bool = True) -> Dataset:
    """Load the Instacart catalogue into the contract.

    Args:
        folder: holds ``products_all`` / ``products`` + ``aisles`` + ``departments`` (.parquet or .csv).
        full_catalogue: prefer ``products_all`` (49,688 rows) over ``products`` (basket subset).

    Raises:
        FileNotFoundError: a table is missing. ContractError: a row breaks the contract.
    """
    folder = Path(folder)

    def read(stem: str) -> tuple[pd.DataFrame, str]:
        p = require_file(folder, f"{stem}.parquet", f"{stem}.csv")
        return read_table(p), str(p)

    stems = ["products_all", "products"] if full_catalogue else ["products", "products_all"]
    for stem in stems:
        try:
            prods, src = read(stem)
            break
        except FileNotFoundError:
            continue
    else:
        raise FileNotFoundError(f"Instacart: no products table in {folder}")
    aisles, _ = read("aisles")
    departments, _ = read("departments")
    df = prods.merge(aisles, on="aisle_id", how="left").merge(departments, on="department_id", how="left")
    out = pd.DataFrame(
        {
            "product_id": df["product_id"].astype(str),
            "title": df["product_name"],
            "category_path": df["department"].fillna("") + " > " + df["aisle"].fillna(""),
            "locale": "en-US",
        }
    )
    return Dataset("instacart", out).validated(src)
