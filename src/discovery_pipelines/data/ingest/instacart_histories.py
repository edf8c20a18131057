"""Instacart Market Basket (2017) order histories into the histories contract.

Source tables (``../shared/datasets/instacart_histories``, README there): ``orders`` (one row per
order), ``order_products`` (one line per product per order), ``products``, ``users``.

Mapping:

- ``user_id``, ``basket_id`` = order_id, ``product_id`` as strings; ``quantity`` = 1 (Instacart
  lines have no quantity); ``price``, ``discount``, ``store_id`` null (the source has none).
- ``day_of_week``: Instacart's order_dow is undocumented upstream; we read it as 0 = Sunday (the
  common reading: days 0 and 1 are the busiest) and shift it to the contract's 0 = Monday:
  ``(order_dow + 6) % 7``. ``hour`` = order_hour_of_day.
- ``timestamp`` (an ordering time; Instacart has no clock): per user, orders by order_number, day
  offset = cumulative days_since_prior_order (null on the first order -> 0, capped at 30 upstream),
  anchored so the first order falls on its own weekday in the week of 2017-01-01 (a Sunday), plus
  order_hour_of_day hours. Where that time does not increase with order_number (two orders on one day
  with a later order at an earlier hour), it is moved to one minute after the previous order: counted
  as ``timestamps_nudged``. The clock is comparable within a user only, not across users.
- products: ``title`` = product_name, ``department``, ``category`` = aisle; brand / size / type null.
- extra line columns: order_number, add_to_cart_order, reordered.

Counted decisions: ``orders_without_basket`` (order rows whose basket is not in the release: they
have no lines but their days still advance the user's clock), ``unknown_product_lines_kept`` /
``unknown_products_stubbed`` (0 in the release), ``lines_in`` / ``lines_out``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from discovery_pipelines.data.histories import Histories, stub_unknown_products
from discovery_pipelines.data.ingest.base import require_file

ANCHOR = pd.Timestamp("2017-01-01", tz="UTC")  # a Sunday: order_dow 0 under our reading


def order_times(orders: pd.DataFrame) -> tuple[pd.Series, int]:
    """Derived UTC ordering time of every order (index aligned with ``orders``) and how many were nudged.

    See the module docstring for the rule. Requires user_id, order_number, order_dow,
    order_hour_of_day, days_since_prior_order.
    """
    o = orders.sort_values(["user_id", "order_number"], kind="stable")
    days = o["days_since_prior_order"].fillna(0).astype(float)
    offset_days = days.groupby(o["user_id"].to_numpy()).cumsum()
    first_dow = o.groupby("user_id")["order_dow"].transform("first").astype(int)
    minutes = ((first_dow + offset_days) * 24 * 60 + o["order_hour_of_day"].astype(int) * 60).to_numpy()
    # strictly increasing per user: t_i = max(t_i, t_{i-1} + 1) via cummax of t_i - i
    pos = o.groupby("user_id").cumcount().to_numpy()
    fixed = pd.Series(minutes - pos).groupby(o["user_id"].to_numpy()).cummax().to_numpy() + pos
    nudged = int((fixed != minutes).sum())
    ts = ANCHOR + pd.to_timedelta(fixed, unit="min")
    return pd.Series(ts, index=o.index).reindex(orders.index), nudged


def instacart_histories(
    orders: pd.DataFrame,
    order_products: pd.DataFrame,
    products: pd.DataFrame,
    users: pd.DataFrame | None = None,
    *,
    source: str = "instacart_histories",
) -> Histories:
    """Build validated :class:`Histories` from the source tables (in memory, no Kedro).

    Args:
        orders, order_products, products: the source tables (columns as in the README).
        users: optional source ``users`` table (source label, prior_history_complete...).
        source: name quoted in contract errors.

    Raises:
        ContractError: a row breaks the histories contract (names file, row, column).
        KeyError: a required source column is missing.
    """
    decisions: dict[str, int] = {"orders_in": len(orders), "lines_in": len(order_products)}
    o = orders.copy()
    o["timestamp"], decisions["timestamps_nudged"] = order_times(o)
    with_lines = o["order_id"].isin(set(order_products["order_id"]))
    decisions["orders_without_basket"] = int((~with_lines).sum())
    unmatched = ~order_products["order_id"].isin(set(o["order_id"]))
    if unmatched.any():
        from discovery_pipelines.data.contract import ContractError

        rows = [int(i) for i in unmatched[unmatched].index[:5]]
        raise ContractError(
            f"{source}: {int(unmatched.sum())} order_products line(s) name an order_id missing from orders, "
            f"e.g. rows {rows} column=order_id"
        )
    m = order_products.merge(o, on="order_id", how="left", validate="many_to_one")
    lines = pd.DataFrame(
        {
            "user_id": m["user_id"].astype(str),
            "basket_id": m["order_id"].astype(str),
            "timestamp": m["timestamp"],
            "product_id": m["product_id"].astype(str),
            "quantity": np.ones(len(m), dtype=np.int64),
            "price": np.nan,
            "discount": np.nan,
            "store_id": None,
            "day_of_week": (m["order_dow"].astype(int) + 6) % 7,
            "hour": m["order_hour_of_day"].astype(int),
            "order_number": m["order_number"].astype(int),
            "add_to_cart_order": m["add_to_cart_order"].astype(int),
            "reordered": m["reordered"].astype(int),
        }
    )
    prods = pd.DataFrame(
        {
            "product_id": products["product_id"].astype(str),
            "title": products["product_name"].to_numpy(),
            "department": products["department"].fillna("UNKNOWN").to_numpy(),
            "category": products["aisle"].to_numpy(),
            "product_type": None,
            "brand": None,
            "size": None,
            "in_source_catalogue": True,
        }
    )
    stubs = stub_unknown_products(lines, prods)
    decisions["unknown_products_stubbed"] = len(stubs)
    decisions["unknown_product_lines_kept"] = int(lines["product_id"].isin(set(stubs["product_id"])).sum())
    prods = pd.concat([prods, stubs], ignore_index=True)
    decisions["lines_out"] = len(lines)
    if users is not None:
        u = users.assign(user_id=users["user_id"].astype(str))
    else:
        u = pd.DataFrame({"user_id": np.sort(lines["user_id"].unique())})
    return Histories(source, lines, prods, u, decisions).validated(source)


def load_instacart_histories(folder: str | Path) -> Histories:
    """Read ``orders``, ``order_products``, ``products``, ``users`` parquet files from ``folder``.

    Raises:
        FileNotFoundError: a table is missing. ContractError: a row breaks the contract.
    """
    folder = Path(folder)
    op = require_file(folder, "order_products.parquet")
    return instacart_histories(
        pd.read_parquet(require_file(folder, "orders.parquet")),
        pd.read_parquet(op),
        pd.read_parquet(require_file(folder, "products.parquet")),
        pd.read_parquet(require_file(folder, "users.parquet")),
        source=str(op),
    )
