"""Bad contract input gets a clear error naming file, row and field (issue #20), on a real Home Depot
slice written to CSV / Parquet the way a user would hand it in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.data.contract import ContractError, check_references, conform, validate
from discovery_pipelines.data.ingest import load_tables
from discovery_pipelines.data.ingest.base import read_table


@pytest.fixture(scope="module")
def slice_(home_depot):
    """30 real queries, their qrels and judged products, ids re-keyed with leading zeros."""
    q = home_depot.queries.head(30)[["query_id", "text"]].reset_index(drop=True)
    qr = home_depot.qrels[home_depot.qrels["query_id"].isin(set(q["query_id"]))].reset_index(drop=True)
    p = home_depot.products[home_depot.products["product_id"].isin(set(qr["product_id"]))]
    p = p[["product_id", "title", "locale"]].reset_index(drop=True)
    new = {old: f"{i:05d}" for i, old in enumerate(p["product_id"])}  # "00007": a zero-padded SKU
    p["product_id"] = p["product_id"].map(new)
    qr["product_id"] = qr["product_id"].map(new)
    return p, q, qr


def _write(tmp_path, frames, fmt):
    paths = {}
    for kind, df in frames.items():
        path = tmp_path / f"{kind}.{fmt}"
        df.to_parquet(path, index=False) if fmt == "parquet" else df.to_csv(path, index=False)
        paths[kind] = path
    return paths


def test_ids_are_strings_from_csv_as_from_parquet(tmp_path, slice_):
    p, q, qr = slice_
    frames = {"products": p, "queries": q, "qrels": qr}
    (tmp_path / "c").mkdir()
    (tmp_path / "p").mkdir()
    a = load_tables(**_write(tmp_path / "c", frames, "csv"))
    b = load_tables(**_write(tmp_path / "p", frames, "parquet"))
    assert a.products["product_id"].tolist() == b.products["product_id"].tolist() == p["product_id"].tolist()
    assert a.products["product_id"].str.startswith("0").all()
    cols = ["query_id", "product_id", "gain"]
    pd.testing.assert_frame_equal(a.qrels[cols], b.qrels[cols])
    # the qrels join the catalogue identically in both formats
    assert set(a.qrels["product_id"]) <= set(a.products["product_id"])


def test_unknown_ids_are_rejected_with_count_and_rows_or_dropped_and_counted(tmp_path, slice_):
    p, q, qr = slice_
    bad = pd.concat([qr, pd.DataFrame({"query_id": [q["query_id"][0], "hd:unknown-query"],
                                       "product_id": ["99999", p["product_id"][0]], "gain": [2.0, 1.0],
                                       "label": ["2", "1"]})], ignore_index=True)
    paths = _write(tmp_path, {"products": p, "queries": q, "qrels": bad}, "csv")
    with pytest.raises(ContractError) as ei:
        load_tables(**paths)
    msg = str(ei.value)
    assert str(paths["qrels"]) in msg and "1 row(s) name an unknown product" in msg
    assert "1 row(s) name an unknown query" in msg and "'99999'" in msg and "'hd:unknown-query'" in msg
    assert f"row={len(qr)} column=product_id" in msg and f"row={len(qr) + 1} column=query_id" in msg
    ds = load_tables(**paths, on_unknown="drop")
    assert len(ds.qrels) == len(qr) and ds.dropped["qrels"] == {"unknown_query": 1, "unknown_product": 1}
    # a header-only products file does not keep its qrels
    p.head(0).to_csv(paths["products"], index=False)
    qr.to_csv(paths["qrels"], index=False)
    with pytest.raises(ContractError, match=f"{len(qr)} row\\(s\\) name an unknown product"):
        load_tables(**paths)


def test_events_for_unknown_products_are_caught(slice_):
    p, q, qr = slice_
    ev = validate(pd.DataFrame({"session_id": ["s1", "s1", "s2"], "timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
                                "query": "drill", "product_id": [p["product_id"][0], "nope", None],
                                "position": [1, 2, pd.NA], "event_type": ["impression", "click", "impression"]}),
                  "events")
    with pytest.raises(ContractError, match="events: 1 row\\(s\\) name an unknown product"):
        check_references(p, q, qr, events=ev)
    _, kept, dropped = check_references(p, q, qr, events=ev, policy="drop")
    assert len(kept) == 2 and dropped["events"] == {"unknown_product": 1}  # null product ids are not offenders
    with pytest.raises(ValueError, match="on_unknown_ids"):
        check_references(p, q, qr, policy="ignore")


@pytest.mark.parametrize("gain, check", [(np.inf, "finite"), (-np.inf, "greater_than_or_equal_to"),
                                         (-0.5, "greater_than_or_equal_to"), (np.nan, "not_nullable")])
def test_bad_gains_are_rejected(slice_, gain, check):
    _, _, qr = slice_
    bad = qr.copy()
    bad.loc[3, "gain"] = gain
    with pytest.raises(ContractError) as ei:
        validate(bad, "qrels", "qrels.csv")
    assert f"row=3 column=gain check={check}" in str(ei.value)


@pytest.mark.parametrize("position", [0, -3])
def test_event_positions_are_one_based(position):
    ev = pd.DataFrame({"session_id": ["s"] * 3, "timestamp": pd.Timestamp("2026-01-01", tz="UTC"), "query": "drill",
                       "product_id": "100001", "position": [1, position, 2], "event_type": "impression"})
    with pytest.raises(ContractError, match="row=1 column=position check=greater_than_or_equal_to"):
        validate(ev, "events", "events.parquet")
    assert validate(ev.assign(position=[1, pd.NA, 2]), "events")["position"].isna().sum() == 1


def test_a_missing_required_column_is_reported_once(tmp_path, slice_):
    p, q, qr = slice_
    paths = _write(tmp_path, {"products": p, "queries": q, "qrels": qr.drop(columns=["product_id"])}, "csv")
    with pytest.raises(ContractError) as ei:
        load_tables(**paths)
    msg = str(ei.value)
    assert "missing required column(s) ['product_id']" in msg and str(paths["qrels"]) in msg
    assert "not_nullable" not in msg and msg.count("product_id") == 1
    with pytest.raises(ContractError, match="missing required column\\(s\\) \\['title'\\]"):
        validate(conform(p.drop(columns=["title"]), "products"), "products", "products.csv")


def test_empty_non_utf8_ragged_and_corrupt_files_name_the_file(tmp_path, slice_):
    p, q, qr = slice_
    paths = _write(tmp_path, {"products": p, "queries": q, "qrels": qr}, "csv")
    paths["products"].write_bytes(b"")
    with pytest.raises(ContractError, match=f"{paths['products']}: file is empty"):
        load_tables(**paths)
    paths["products"].write_bytes(b"\n\n")
    with pytest.raises(ContractError, match=f"{paths['products']}: file holds no header row"):
        load_tables(**paths)
    p.assign(title=p["title"] + " caf\u00e9").to_csv(paths["products"], index=False, encoding="latin-1")
    with pytest.raises(ContractError) as ei:
        load_tables(**paths)
    assert str(paths["products"]) in str(ei.value) and "encoding tried: utf-8" in str(ei.value)
    assert len(load_tables(**paths, encoding="latin-1").products) == len(p)  # the right encoding reads it
    paths["products"].write_text("product_id,title,locale\n1,a,en-US\n2,b,en-US,extra,cells\n")
    with pytest.raises(ContractError, match=f"{paths['products']}: cannot be read as a csv table.*line 3"):
        load_tables(**paths)
    bad_pq = tmp_path / "products.parquet"
    bad_pq.write_bytes(b"PAR1 truncated")
    with pytest.raises(ContractError, match=f"{bad_pq}: cannot be read as a parquet table"):
        read_table(bad_pq)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "absent.csv")
