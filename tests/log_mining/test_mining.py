"""Mining on DuckDB: Wilson bound, counts, bad-input accounting, quality and pipeline nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from discovery_pipelines.data.contract import ContractError
from discovery_pipelines.log_mining import MiningParams, mine_events
from discovery_pipelines.search.metrics import wilson_interval
from discovery_pipelines.log_mining.mining import DROP_REASONS
from discovery_pipelines.pipelines.log_mining.nodes import evaluate_mining, split_training_pairs
from discovery_pipelines.data.text import normalize_query


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (37, 1000), (1, 2)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(np.array([k]), np.array([n]), z=1.959963984540054)
    assert lo[0] == pytest.approx(ci.low, abs=1e-12) and hi[0] == pytest.approx(ci.high, abs=1e-12)


def test_wilson_prefers_evidence_over_small_samples():
    lb, _ = wilson_interval(np.array([3, 300]), np.array([3, 400]))
    assert lb[0] < lb[1]


@pytest.fixture(scope="module")
def clean_result(clean_events, hd_small):
    return mine_events(clean_events[0], hd_small.products["product_id"], MiningParams(min_impressions=5),
                       duckdb_options={"threads": 1})


def test_counts_match_a_pandas_recount(clean_events, clean_result):
    ev = pq.read_table(str(clean_events[0])).to_pandas()
    ev["query"] = ev["query"].astype(str).map(normalize_query)
    want = ev.pivot_table(index=["query", "product_id"], columns="event_type", values="session_id",
                          aggfunc="count", fill_value=0)
    got = clean_result.pairs.set_index(["query_norm", "product_id"])
    assert clean_result.report["dropped_rows"] == 0
    assert len(got) == len(want)
    assert (got["impressions"] == want["impression"].reindex(got.index)).all()
    assert (got["clicks"] == want["click"].reindex(got.index)).all()
    assert (got["purchases"] == want["purchase"].reindex(got.index)).all()
    np.testing.assert_allclose(got["wilson_lb"], wilson_interval(got["clicks"], got["impressions"])[0], atol=1e-12)
    pos = clean_result.positives
    assert len(pos) > 0 and (pos["impressions"] >= 5).all() and (pos["wilson_lb"] >= 0.2).all()
    neg = clean_result.negatives
    assert len(neg) > 0 and (neg[["clicks", "carts", "purchases"]].sum(axis=1) == 0).all()
    assert (neg["mean_position"] <= 5).all()


def test_bad_rows_are_counted_dropped_and_do_not_change_results(dirty_events, clean_result, hd_small):
    path, manifest = dirty_events
    inj = manifest["injected"]
    assert all(v > 0 for v in inj.values()), inj
    res = mine_events(path, hd_small.products["product_id"], MiningParams(min_impressions=5),
                      duckdb_options={"threads": 1}, on_unknown_ids="drop")
    d = res.report["dropped"]
    assert d["unknown_product"] == inj["unknown_product"]
    assert d["null_or_empty_query"] == inj["null_query"] + inj["empty_query"]
    assert d["invalid_position"] == inj["negative_position"]
    assert d["duplicate"] == inj["duplicate"]
    assert d["out_of_order_timestamp"] == inj["out_of_order"]
    assert set(d) == set(DROP_REASONS)
    assert res.report["input_rows"] == manifest["rows_written"]
    assert res.report["kept_rows"] == manifest["clean_events"]
    pd.testing.assert_frame_equal(res.pairs, clean_result.pairs)


def _write(df: pd.DataFrame, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.assign(timestamp=pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[us, UTC]"))
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def test_each_bad_input_kind_in_a_hand_made_log(tmp_path):
    t = "2024-01-01T10:00:0{}Z"
    good = [("s1", t.format(0), "Drill  Bits", "p1", 1, "impression"),
            ("s1", t.format(0), "Drill  Bits", "p2", 2, "impression"),
            ("s1", t.format(5), "Drill  Bits", "p1", 1, "click")]
    bad = [("s1", t.format(0), "Drill  Bits", "p1", 1, "impression"),   # duplicate
           ("s2", t.format(0), None, "p1", 1, "impression"),            # null query
           ("s2", t.format(0), "  ", "p1", 1, "impression"),            # empty query
           ("s2", t.format(0), "\t", "p1", 1, "impression"),            # blank after normalisation
           ("s2", t.format(0), "drill bits", "p9", 1, "impression"),    # unknown product
           ("s2", t.format(0), "drill bits", "p1", -3, "impression"),   # negative position
           ("s2", t.format(0), "drill bits", "p1", 1, "hover"),         # unknown event type
           ("s1", "2024-01-01T09:59:00Z", "Drill  Bits", "p2", 2, "click"),  # click before impression
           ("s3", t.format(1), "drill bits", "p2", 2, "purchase")]      # engagement, no impression
    cols = ["session_id", "timestamp", "query", "product_id", "position", "event_type"]
    _write(pd.DataFrame(good + bad, columns=cols), tmp_path / "ev" / "date=2024-01-01" / "a.parquet")
    res = mine_events(tmp_path / "ev", ["p1", "p2"], MiningParams(min_impressions=1, positive_threshold=0.0),
                      on_unknown_ids="drop")
    d = res.report["dropped"]
    assert d == {"null_or_empty_query": 3, "unknown_product": 1, "invalid_position": 1, "unknown_event_type": 1,
                 "missing_session_or_timestamp": 0, "duplicate": 1, "engagement_without_impression": 1,
                 "out_of_order_timestamp": 1}
    assert res.report["kept_rows"] == 3
    p = res.pairs.set_index("product_id")
    assert p.loc["p1", ["impressions", "clicks"]].tolist() == [1, 1]
    assert p.loc["p2", ["impressions", "clicks"]].tolist() == [1, 0]
    assert set(res.pairs["query_norm"]) == {"drill bits"}


def test_unknown_products_in_events_are_rejected_by_default_naming_file_row_and_id(tmp_path):
    t = "2024-01-01T10:00:0{}Z"
    rows = [("s1", t.format(0), "drill", "p1", 1, "impression"),
            ("s1", t.format(1), "drill", "p7", 2, "impression"),     # unknown
            ("s1", t.format(2), "drill", None, 3, "impression"),     # null id: dropped, never an integrity error
            ("s2", t.format(0), "saw", "p9", 1, "impression")]       # unknown
    cols = ["session_id", "timestamp", "query", "product_id", "position", "event_type"]
    _write(pd.DataFrame(rows[:2], columns=cols), tmp_path / "ev" / "date=2024-01-01" / "a.parquet")
    _write(pd.DataFrame(rows[2:], columns=cols), tmp_path / "ev" / "date=2024-01-02" / "b.parquet")
    with pytest.raises(ContractError, match=r"2 event\(s\) name a product_id.*on_unknown_ids") as ei:
        mine_events(tmp_path / "ev", ["p1", "p2"])
    msg = str(ei.value)
    assert "a.parquet row=1 column=product_id value='p7'" in msg
    assert "b.parquet row=1 column=product_id value='p9'" in msg
    assert ei.value.failures[["row", "value"]].values.tolist() == [[1, "p7"], [1, "p9"]]
    res = mine_events(tmp_path / "ev", ["p1", "p2"], on_unknown_ids="drop")
    assert res.report["dropped"]["unknown_product"] == 3 and res.report["on_unknown_ids"] == "drop"
    # a catalogue holding every id passes under the default (the null id is still dropped and counted)
    ok = mine_events(tmp_path / "ev", ["p1", "p7", "p9"])
    assert ok.report["dropped"]["unknown_product"] == 1 and ok.report["kept_rows"] == 3
    with pytest.raises(ValueError, match="on_unknown_ids"):
        mine_events(tmp_path / "ev", ["p1"], on_unknown_ids="ignore")


def test_missing_column_names_file_and_column(tmp_path):
    f = tmp_path / "ev" / "x.parquet"
    f.parent.mkdir()
    pq.write_table(pa.table({"session_id": ["s"], "query": ["q"]}), f)
    with pytest.raises(ContractError, match=r"x\.parquet.*missing column.*timestamp"):
        mine_events(tmp_path / "ev", ["p1"])
    with pytest.raises(FileNotFoundError):
        mine_events(tmp_path / "nothing", ["p1"])


def test_nodes_give_training_pairs_with_provenance_and_quality(clean_events, clean_result, hd_small):
    pos, neg = split_training_pairs(clean_result.pairs, hd_small.queries)
    for df in (pos, neg):
        assert {"query", "query_norm", "product_id", "impressions", "clicks", "carts", "purchases", "ctr",
                "wilson_lb", "source", "split"} <= set(df.columns)
        assert (df["source"] == "log").all()
        assert df["split"].isin(["train", "dev", "holdout"]).all()
    from discovery_pipelines.data.datasets import EventsFolder

    events = EventsFolder(clean_events[0], {"source": "simulated", **clean_events[1]})
    report, curve, fig, md = evaluate_mining(
        clean_result.pairs, hd_small.queries, hd_small.qrels, clean_result.report, events,
        {"params": {"min_impressions": 5}}, {"relevant_gain": 2.5, "thresholds": [0.0, 0.1, 0.2, 0.4]})
    q = report["quality"]["default"]
    assert 0 < q["recall"] <= q["recall_shown"] <= 1
    assert q["precision"] > 0.6  # high-gain products draw the clicks
    assert curve["recall"].is_monotonic_decreasing
    assert "![precision-recall curve](pr_curve.png)" in md and "| duplicate |" in md
    assert fig.axes[0].get_xlabel().startswith("recall")


def test_mining_node_rejects_unknown_products_in_external_logs_and_drops_them_from_simulated(tmp_path):
    from discovery_pipelines.data.datasets import EventsFolder
    from discovery_pipelines.pipelines.log_mining.nodes import mine_click_logs

    cols = ["session_id", "timestamp", "query", "product_id", "position", "event_type"]
    _write(pd.DataFrame([("s1", "2024-01-01T10:00:00Z", "drill", "p1", 1, "impression"),
                         ("s1", "2024-01-01T10:00:01Z", "drill", "zz", 2, "impression")], columns=cols),
           tmp_path / "ev" / "date=2024-01-01" / "a.parquet")
    products = pd.DataFrame({"product_id": ["p1"]})
    block = {"duckdb": {"threads": 1}}
    with pytest.raises(ContractError, match=r"a\.parquet row=1 column=product_id value='zz'"):
        mine_click_logs(EventsFolder(tmp_path / "ev", {"source": "external"}), products, block)
    _, report = mine_click_logs(EventsFolder(tmp_path / "ev", {"source": "simulated"}), products, block)
    assert report["dropped"]["unknown_product"] == 1 and report["on_unknown_ids"] == "drop"
    _, report = mine_click_logs(EventsFolder(tmp_path / "ev", {"source": "external"}), products,
                                {**block, "on_unknown_ids": "drop"})
    assert report["on_unknown_ids"] == "drop" and report["kept_rows"] == 1
