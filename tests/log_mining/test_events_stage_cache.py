"""The stage cache and external event logs: new events at the path of the catalog entry ``log_mining.events``
re-run the mining (a local folder dataset, so the cache hashes its content), and ``simulate: false`` writes
nothing there.

Runs the project's own ``prepare_events`` and ``mine_click_logs`` nodes, wired and catalogued as in
``kedro run`` (the project's conf, ``ci`` environment), on a real Home Depot slice.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from discovery_pipelines.log_mining import ClickModel, simulate_events
from discovery_pipelines.pipelines.log_mining.pipeline import create_pipeline
from discovery_pipelines.settings import CONFIG_LOADER_ARGS
from discovery_pipelines.stage_cache import CachingRunner

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _lookup(params: dict, dotted: str):
    for part in dotted.split("."):
        params = params[part]
    return params


@pytest.fixture
def mining_project(hd_small, tmp_path, monkeypatch):
    """The two nodes, the project's catalog (relative paths under ``tmp_path``) and its parameters
    with ``simulate: false`` and a small external events folder."""
    monkeypatch.chdir(tmp_path)
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "ci"})
    params = loader["parameters"]
    events = tmp_path / "external_events"
    params["log_mining"]["events"].update(simulate=False)
    catalog_conf = dict(loader["catalog"])
    catalog_conf["log_mining.events"] = {**catalog_conf["log_mining.events"],
                                         "dataset": {**catalog_conf["log_mining.events"]["dataset"],
                                                     "filepath": str(events)}}
    pipe = Pipeline([n for n in create_pipeline().nodes
                     if n.func.__name__ in {"prepare_events", "mine_click_logs"}])
    assert len(pipe.nodes) == 2

    def catalog() -> DataCatalog:
        cat = DataCatalog.from_config(catalog_conf)
        for name in pipe.inputs():
            if name.startswith("params:"):
                cat[name] = _lookup(params, name.removeprefix("params:"))
        return cat

    cat = catalog()
    for table in ("products", "queries", "qrels"):
        cat.save(table, getattr(hd_small, table))
    return pipe, catalog, events


def _run(pipe: Pipeline, catalog, tmp_path: Path) -> dict[str, str]:
    runner = CachingRunner(cache_dir=tmp_path / "cache")
    runner.run(pipe, catalog())
    return {d.node.rsplit(".", 1)[-1]: d.status for d in runner.decisions}


def test_new_external_events_at_the_same_path_rerun_mining(mining_project, hd_lists, tmp_path):
    pipe, catalog, events = mining_project
    kw = dict(n_events=4_000, n_days=2, chunk_events=4_000, model=ClickModel(), progress=False)
    simulate_events(hd_lists, events, seed=1, **kw)
    assert set(_run(pipe, catalog, tmp_path).values()) == {"ran"}
    pairs = next(n for n in pipe.outputs() if n.endswith("mined_pairs"))
    first = catalog().load(pairs)
    assert set(_run(pipe, catalog, tmp_path).values()) == {"skipped"}

    simulate_events(hd_lists, events, seed=2, **kw)   # a new export lands at the same path
    statuses = _run(pipe, catalog, tmp_path)
    assert statuses == {"prepare_events": "ran", "mine_click_logs": "ran"}
    second = catalog().load(pairs)
    assert not first.equals(second)            # mined from the new events, not the stale ones
    assert set(_run(pipe, catalog, tmp_path).values()) == {"skipped"}
    pd.testing.assert_frame_equal(second, catalog().load(pairs))
    # simulate: false never writes into the events folder
    from discovery_pipelines.data.io import path_digest

    before = path_digest(events)
    (tmp_path / "cache").rename(tmp_path / "cache_old")   # no cache: both nodes run again
    assert set(_run(pipe, catalog, tmp_path).values()) == {"ran"}
    assert path_digest(events) == before
    loaded = catalog().load("log_mining.events")
    assert loaded.manifest["source"] == "external" and loaded.manifest["content_sha256"] == before


def test_simulated_events_are_written_through_the_catalog(hd_small, tmp_path):
    from discovery_pipelines.data.datasets import EventsFolderDataset, GatedDataset
    from discovery_pipelines.pipelines.log_mining.nodes import prepare_events

    ds = GatedDataset({"type": "discovery_pipelines.data.datasets.EventsFolderDataset",
                       "filepath": str(tmp_path / "events")})
    params = {"simulate": True, "n_events": 3_000, "n_days": 2, "chunk_events": 3_000, "seed": 5,
              "corruption": {"unknown_product": 0.01}}
    ds.save(prepare_events(hd_small.products, hd_small.queries, hd_small.qrels, params))
    ev = ds.load()
    assert ev.manifest["source"] == "simulated" and ev.manifest["path"] == str(tmp_path / "events")
    assert ev.manifest["injected"]["unknown_product"] > 0
    assert len(list((tmp_path / "events").glob("date=*/*.parquet"))) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp folder left behind
    with pytest.raises(Exception, match=r"nothing does not exist or holds no \*\.parquet"):
        EventsFolderDataset(str(tmp_path / "nothing")).load()
