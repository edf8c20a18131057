"""Click-log simulator: click-model maths, determinism, contract and partition layout on real HD data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest

from discovery_pipelines.data.contract import COLUMNS, EVENT_TYPES, validate
from discovery_pipelines.log_mining import ClickModel, attractiveness, examination, simulate_events


def _read(path) -> pd.DataFrame:
    return pads.dataset(str(path), format="parquet", partitioning="hive").to_table().to_pandas()


def test_attractiveness_maps_home_depot_gains_monotonically():
    m = ClickModel(alpha_max=0.9, gamma=2.0, false_click_rate=0.05)
    a = attractiveness(np.array([1.0, 1.67, 2.0, 2.33, 2.67, 3.0, np.nan]), m)
    assert a[0] == pytest.approx(0.05)             # irrelevant: only false clicks
    assert a[5] == pytest.approx(0.9 + 0.1 * 0.05)  # top gain
    assert np.all(np.diff(a[:6]) > 0)
    assert a[6] == pytest.approx(a[0])              # unjudged -> unjudged_gain (1.0)
    assert examination(np.array([1, 2, 4]), ClickModel(eta=1.0)).tolist() == [1.0, 0.5, 0.25]


def test_unknown_parameter_is_rejected():
    from discovery_pipelines.data.params import ParameterError, validate

    with pytest.raises(ParameterError, match=r"log_mining\.events\.click_model\.etta: Extra inputs"):
        validate(ClickModel, {"etta": 1.0}, "log_mining.events.click_model")


def test_events_follow_contract_and_partitions_hold_whole_sessions(clean_events):
    path, manifest = clean_events
    ev = _read(path)
    assert len(ev) == manifest["rows_written"] == manifest["clean_events"]
    assert 30_000 <= len(ev) < 30_000 + 3 * 20  # within one session per day
    assert list(ev.columns[:6]) == COLUMNS["events"]
    validate(ev[COLUMNS["events"]].sample(2_000, random_state=0), "events", str(path))
    assert set(ev["event_type"]) <= set(EVENT_TYPES)
    assert ev.groupby("session_id")["date"].nunique().max() == 1
    assert sorted(p.name for p in path.iterdir() if p.is_dir()) == [
        "date=2024-01-01", "date=2024-01-02", "date=2024-01-03"]
    counts = ev["event_type"].value_counts().to_dict()
    assert counts == {k: v for k, v in manifest["by_event_type"].items() if v}
    # funnel: every engagement follows an impression of the same product in the same session
    imp = ev[ev["event_type"] == "impression"].groupby(["session_id", "product_id"])["timestamp"].min()
    eng = ev[ev["event_type"] != "impression"].join(imp.rename("imp_ts"), on=["session_id", "product_id"])
    assert (eng["timestamp"] > eng["imp_ts"]).all()


def test_position_bias_ctr_falls_with_rank(clean_events):
    ev = _read(clean_events[0])
    by_pos = ev.pivot_table(index="position", columns="event_type", values="session_id", aggfunc="count")
    ctr = (by_pos["click"] / by_pos["impression"]).to_numpy()
    assert ctr[0] > 2 * ctr[4] > 0  # PBM with eta = 1: rank 1 examined 5x more than rank 5


def test_same_seed_same_events(hd_lists, tmp_path):
    a = simulate_events(hd_lists, tmp_path / "a", n_events=2_000, seed=3, n_days=2, progress=False)
    b = simulate_events(hd_lists, tmp_path / "b", n_events=2_000, seed=3, n_days=2, progress=False)
    c = simulate_events(hd_lists, tmp_path / "c", n_events=2_000, seed=4, n_days=2, progress=False)
    pd.testing.assert_frame_equal(_read(tmp_path / "a"), _read(tmp_path / "b"))
    assert a["clean_events"] == b["clean_events"]
    assert not _read(tmp_path / "a").equals(_read(tmp_path / "c"))
    assert c["seed"] == 4


def test_failed_simulation_leaves_previous_output_untouched(hd_lists, tmp_path):
    out = tmp_path / "events"
    simulate_events(hd_lists, out, n_events=1_000, seed=1, n_days=1, progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(ValueError, match="corruption"):
        simulate_events(hd_lists, out, n_events=1_000, seed=2, n_days=1, corruption={"bogus": 0.1},
                        progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".events")]  # no temp leftovers
