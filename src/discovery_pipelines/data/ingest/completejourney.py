"""The Complete Journey (dunnhumby / 84.51°, R-package edition) into the histories contract.

Source tables (``../shared/datasets/completejourney``, README there): ``transactions`` (one line per
product per basket), ``products``, ``demographics``.

Mapping:

- ``user_id`` = household_id, ``basket_id``, ``product_id``, ``store_id`` as strings.
- ``timestamp`` = transaction_timestamp (a naive UTC instant in the source) as UTC;
  ``day_of_week`` (0 = Monday) and ``hour`` from transaction_time_local (the store clock).
- ``price`` = sales_value / quantity (unit price paid, dollars); ``discount`` = retail_disc +
  coupon_disc + coupon_match_disc (dollars off the line, all >= 0 in the source); ``line_value`` =
  sales_value is kept as an extra column.
- products: ``title`` is composed from product_type | product_category | department | brand | size
  (the source has no product names); ``category`` = product_category, ``size`` = package_size.

Counted decisions (``Histories.decisions``), from the README's quirks:

- ``non_unit_quantity_lines``: quantity > 100 on FUEL or MISCELLANEOUS lines is a pump / meter
  reading (e.g. 8,725 for $20.06 of fuel), not a unit count: quantity becomes 1, ``price`` the line
  value, the reading stays in ``quantity_raw``. Quantity > 100 elsewhere is kept as units
  (``other_quantity_over_100_lines``).
- ``zero_quantity_no_sale_lines_dropped``: quantity 0 and sales_value 0 is no purchase (voided line);
  dropped. ``zero_quantity_sale_lines_kept``: quantity 0 with sales_value > 0 is kept, price null.
- ``unknown_product_lines_in``: lines whose product_id is not in products (4,836 in the release;
  most are also zero-quantity no-sale lines, dropped above). The remaining
  ``unknown_product_lines_kept`` are real purchases: kept, and each such id gets a stub product
  (department ``UNKNOWN``, ``in_source_catalogue`` False), counted as ``unknown_products_stubbed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from discovery_pipelines.data.histories import Histories, stub_unknown_products
from discovery_pipelines.data.ingest.base import require_file

NON_UNIT_DEPARTMENTS = ("FUEL", "MISCELLANEOUS")
NON_UNIT_MIN_QUANTITY = 100


def _title(products: pd.DataFrame) -> pd.Series:
    parts = [
        products["product_type"], products["product_category"], products["department"],
        products["brand"] + " brand", products["package_size"],
    ]
    title = pd.Series("", index=products.index, dtype=object)
    for p in parts:
        v = p.astype(object).where(p.notna(), "").astype(str).str.strip()
        title = title.where(v == "", title.where(title == "", title + " | ") + v)
    fallback = products["department"].fillna("product").astype(str) + " product " + products["product_id"].astype(str)
    return title.where(title.str.len() > 0, fallback)


def completejourney_products(products: pd.DataFrame) -> pd.DataFrame:
    """Source ``products`` table -> histories products (``in_source_catalogue`` True).

    Keeps manufacturer_id as an extra column. Department nulls (none in the release) become ``UNKNOWN``.
    """
    return pd.DataFrame(
        {
            "product_id": products["product_id"].astype(str),
            "title": _title(products).to_numpy(),
            "department": products["department"].fillna("UNKNOWN").to_numpy(),
            "category": products["product_category"].to_numpy(),
            "product_type": products["product_type"].to_numpy(),
            "brand": products["brand"].to_numpy(),
            "size": products["package_size"].to_numpy(),
            "manufacturer_id": products["manufacturer_id"].astype(str).to_numpy(),
            "in_source_catalogue": True,
        }
    )


def completejourney_histories(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    demographics: pd.DataFrame | None = None,
    *,
    source: str = "completejourney",
) -> Histories:
    """Build validated :class:`Histories` from the three source tables (in memory, no Kedro).

    Args:
        transactions: the source ``transactions`` table (columns as in the README).
        products: the source ``products`` table.
        demographics: optional ``demographics`` (801 households); joined onto ``users`` with
            ``has_demographics``.
        source: name quoted in contract errors.

    Raises:
        ContractError: a row breaks the histories contract (names file, row, column).
        KeyError: a required source column is missing.
    """
    t = transactions
    decisions: dict[str, int] = {"lines_in": len(t)}
    prods = completejourney_products(products)
    dept = t["product_id"].astype(str).map(dict(zip(prods["product_id"], prods["department"])))

    qty = t["quantity"].to_numpy(dtype=np.int64)
    value = t["sales_value"].to_numpy(dtype=float)
    decisions["unknown_product_lines_in"] = int(dept.isna().sum())
    non_unit = (qty > NON_UNIT_MIN_QUANTITY) & dept.isin(NON_UNIT_DEPARTMENTS).to_numpy()
    no_sale = (qty == 0) & (value == 0)
    decisions["non_unit_quantity_lines"] = int(non_unit.sum())
    decisions["other_quantity_over_100_lines"] = int(((qty > NON_UNIT_MIN_QUANTITY) & ~non_unit).sum())
    decisions["zero_quantity_no_sale_lines_dropped"] = int(no_sale.sum())
    decisions["zero_quantity_sale_lines_kept"] = int(((qty == 0) & (value > 0)).sum())

    quantity = np.where(non_unit, 1, qty)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(quantity > 0, value / np.maximum(quantity, 1), np.nan)
    discount = (t["retail_disc"].fillna(0) + t["coupon_disc"].fillna(0) + t["coupon_match_disc"].fillna(0)).to_numpy()
    local = pd.to_datetime(t["transaction_time_local"])
    lines = pd.DataFrame(
        {
            "user_id": t["household_id"].astype(str).to_numpy(),
            "basket_id": t["basket_id"].astype(str).to_numpy(),
            "timestamp": pd.to_datetime(t["transaction_timestamp"]).dt.tz_localize("UTC").to_numpy(),
            "product_id": t["product_id"].astype(str).to_numpy(),
            "quantity": quantity,
            "price": price,
            "discount": discount,
            "store_id": t["store_id"].astype(str).to_numpy(),
            "day_of_week": local.dt.dayofweek.to_numpy(),
            "hour": local.dt.hour.to_numpy(),
            "line_value": value,
            "quantity_raw": qty,
        }
    )
    lines["timestamp"] = pd.to_datetime(lines["timestamp"], utc=True)
    lines = lines[~no_sale].reset_index(drop=True)

    stubs = stub_unknown_products(lines, prods)
    decisions["unknown_products_stubbed"] = len(stubs)
    decisions["unknown_product_lines_kept"] = int(lines["product_id"].isin(set(stubs["product_id"])).sum())
    prods = pd.concat([prods, stubs], ignore_index=True)
    decisions["lines_out"] = len(lines)

    users = pd.DataFrame({"user_id": np.sort(lines["user_id"].unique())})
    if demographics is not None:
        demo = demographics.assign(user_id=demographics["household_id"].astype(str)).drop(columns="household_id")
        users = users.merge(demo, on="user_id", how="left")
        users["has_demographics"] = users["user_id"].isin(set(demo["user_id"]))
    return Histories(source, lines, prods, users, decisions).validated(source)


def load_completejourney(folder: str | Path, *, with_demographics: bool = True) -> Histories:
    """Read ``transactions``, ``products`` (and ``demographics``) parquet files from ``folder``.

    Raises:
        FileNotFoundError: a table is missing. ContractError: a row breaks the contract.
    """
    folder = Path(folder)
    tr = require_file(folder, "transactions.parquet")
    demo = pd.read_parquet(require_file(folder, "demographics.parquet")) if with_demographics else None
    return completejourney_histories(
        pd.read_parquet(tr), pd.read_parquet(require_file(folder, "products.parquet")), demo, source=str(tr)
    )
