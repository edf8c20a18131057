"""The histories contract and its two adapters on real slices of completejourney / instacart_histories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.data.contract import ContractError
from discovery_pipelines.data.histories import LINE_COLUMNS, PRODUCT_COLUMNS, validate_histories
from discovery_pipelines.data.ingest.completejourney import completejourney_histories
from discovery_pipelines.data.ingest.instacart_histories import instacart_histories


@pytest.fixture(scope="module")
def cj(cj_slice):
    return completejourney_histories(cj_slice["transactions"], cj_slice["products"], cj_slice["demographics"])


@pytest.fixture(scope="module")
def ic(ic_slice):
    return instacart_histories(ic_slice["orders"], ic_slice["order_products"], ic_slice["products"], ic_slice["users"])


def test_completejourney_lines_follow_the_contract(cj, cj_slice):
    t = cj_slice["transactions"]
    lines = cj.lines
    assert list(lines.columns[: len(LINE_COLUMNS)]) == LINE_COLUMNS
    assert list(cj.products.columns[: len(PRODUCT_COLUMNS)]) == PRODUCT_COLUMNS
    for col in ("user_id", "basket_id", "product_id", "store_id"):
        assert lines[col].map(type).eq(str).all(), col
    assert str(lines["timestamp"].dtype) == "datetime64[us, UTC]"
    # one user and one timestamp per basket; sorted by user then time
    per_basket = lines.groupby("basket_id").agg(u=("user_id", "nunique"), t=("timestamp", "nunique"))
    assert (per_basket["u"] == 1).all() and (per_basket["t"] == 1).all()
    assert lines.groupby("user_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()
    # day of week / hour follow the store clock (transaction_time_local), not the UTC instant
    src = t.assign(basket_id=t["basket_id"].astype(str)).drop_duplicates("basket_id").set_index("basket_id")
    b = lines.drop_duplicates("basket_id").set_index("basket_id")
    local = pd.to_datetime(src.loc[b.index, "transaction_time_local"])
    assert (b["day_of_week"].to_numpy() == local.dt.dayofweek.to_numpy()).all()
    assert (b["hour"].astype(int).to_numpy() == local.dt.hour.to_numpy()).all()
    assert set(lines["user_id"]) <= set(cj.users["user_id"])
    assert cj.users["has_demographics"].sum() == cj.users["user_id"].isin(
        set(cj_slice["demographics"]["household_id"].astype(str))).sum()


def test_completejourney_quirks_are_counted_decisions(cj, cj_slice):
    t = cj_slice["transactions"]
    dept = t["product_id"].map(cj_slice["products"].set_index("product_id")["department"])
    fuel = (t["quantity"] > 100) & dept.isin(["FUEL", "MISCELLANEOUS"])
    no_sale = (t["quantity"] == 0) & (t["sales_value"] == 0)
    d = cj.decisions
    assert fuel.sum() > 0 and no_sale.sum() > 0, "slice should hold both quirks"
    assert d["non_unit_quantity_lines"] == fuel.sum()
    assert d["zero_quantity_no_sale_lines_dropped"] == no_sale.sum()
    assert d["lines_in"] == len(t) and d["lines_out"] == len(cj.lines) == len(t) - no_sale.sum()
    # fuel lines become one purchase at the line's value, the meter reading stays in quantity_raw
    f = cj.lines[cj.lines["quantity_raw"] > 100].merge(cj.products[["product_id", "department"]], on="product_id")
    f = f[f["department"].isin(["FUEL", "MISCELLANEOUS"])]
    assert len(f) == fuel.sum()
    assert (f["quantity"] == 1).all()
    np.testing.assert_allclose(f["price"], f["line_value"])
    # ordinary lines: unit price = sales value / quantity, discount = the three discount columns
    ok = cj.lines[(cj.lines["quantity"] > 1) & (cj.lines["quantity_raw"] <= 100)]
    np.testing.assert_allclose(ok["price"] * ok["quantity"], ok["line_value"], rtol=1e-9)
    src_disc = (t["retail_disc"] + t["coupon_disc"] + t["coupon_match_disc"])[~no_sale].sum()
    assert cj.lines["discount"].sum() == pytest.approx(src_disc)
    # unknown product ids: lines kept, each id stubbed in products
    stubs = cj.products[~cj.products["in_source_catalogue"].astype(bool)]
    assert d["unknown_products_stubbed"] == len(stubs) > 0
    assert d["unknown_product_lines_kept"] == cj.lines["product_id"].isin(set(stubs["product_id"])).sum() > 0
    assert (stubs["department"] == "UNKNOWN").all()
    assert set(cj.lines["product_id"]) <= set(cj.products["product_id"])


def test_completejourney_titles_carry_the_taxonomy(cj):
    p = cj.products.set_index("product_id")
    row = p.loc["25671"]  # ICE - CRUSHED/CUBED, FRZN ICE, GROCERY, National, 22 LB
    assert row["title"] == "ICE - CRUSHED/CUBED | FRZN ICE | GROCERY | National brand | 22 LB"
    assert p["title"].str.len().gt(0).all()


def test_instacart_ordering_time(ic, ic_slice):
    lines = ic.lines
    o = ic_slice["orders"]
    d = ic.decisions
    assert d["orders_without_basket"] == (~o["order_id"].isin(set(ic_slice["order_products"]["order_id"]))).sum()
    assert d["lines_out"] == len(ic_slice["order_products"]) == len(lines)
    b = lines.drop_duplicates("basket_id").sort_values(["user_id", "order_number"])
    # the derived time strictly increases with order_number within each user
    assert b.groupby("user_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing and s.is_unique).all()
    # first order lands on its own weekday (0 = Sunday upstream -> 6 in the contract's Monday-first week)
    first = b.groupby("user_id").head(1)
    assert (first["timestamp"].dt.dayofweek.to_numpy() == first["day_of_week"].to_numpy()).all()
    src_first = o.sort_values("order_number").groupby("user_id").head(1).set_index("order_id")
    got = first.set_index(first["basket_id"].astype(int))
    expect = (src_first.loc[got.index, "order_dow"] + 6) % 7
    assert (got["day_of_week"].to_numpy() == expect.to_numpy()).all()
    assert (lines["quantity"] == 1).all() and lines["price"].isna().all()


def test_instacart_time_order_reproduces_reordered(ic, ic_slice):
    """For users with complete prior histories, 'reordered' = product in an earlier basket by our clock."""
    complete = set(ic_slice["users"].loc[ic_slice["users"]["prior_history_complete"], "user_id"].astype(str))
    lines = ic.lines[ic.lines["user_id"].isin(complete)].sort_values(["user_id", "timestamp"])
    first_seen = lines.groupby(["user_id", "product_id"])["timestamp"].transform("min")
    seen_before = (lines["timestamp"] > first_seen).astype(int)
    assert len(lines) > 1000
    assert (seen_before.to_numpy() == lines["reordered"].to_numpy()).all()


def test_contract_errors_name_row_and_column(cj):
    bad = cj.lines.head(50).copy()
    bad.loc[7, "hour"] = 25
    bad.loc[9, "quantity"] = -2
    with pytest.raises(ContractError) as e:
        validate_histories(bad, "lines", "slice.parquet")
    msg = str(e.value)
    assert "file=slice.parquet row=7 column=hour" in msg and "row=9 column=quantity" in msg
    two_users = cj.lines.head(50).copy()
    two_users.loc[3, "user_id"] = "someone-else"
    with pytest.raises(ContractError, match="one user or timestamp"):
        validate_histories(two_users, "lines", "slice.parquet")
    with pytest.raises(ContractError, match="missing from products.*row"):
        validate_histories(cj.lines.head(50), "lines", "slice.parquet", products=cj.products.iloc[:0])
    missing = cj.lines.head(5).drop(columns="timestamp")
    with pytest.raises(ContractError, match="missing required column.*timestamp"):
        validate_histories(missing, "lines", "slice.parquet")
