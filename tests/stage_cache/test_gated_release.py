"""A gated release goes through the catalog: written only when its gate passed, the previous release kept
otherwise, and the stage cache neither re-runs the node for an output absent by design nor misses a change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node

from discovery_pipelines.data.datasets import Gated, GatedDataset
from discovery_pipelines.stage_cache import CachingRunner


def release(decision: dict, candidate: dict) -> tuple[Gated, dict]:
    ok = bool(decision["passed"])
    return Gated(candidate if ok else None, ok, "gate failed"), {"promoted": ok}


def _run(root: Path, decision: dict, candidate: dict) -> dict[str, str]:
    (root / "decision.json").write_text(json.dumps(decision))
    (root / "candidate.json").write_text(json.dumps(candidate))
    catalog = DataCatalog.from_config({
        "decision": {"type": "json.JSONDataset", "filepath": str(root / "decision.json")},
        "candidate": {"type": "json.JSONDataset", "filepath": str(root / "candidate.json")},
        "production": {"type": "discovery_pipelines.data.datasets.GatedDataset",
                       "dataset": {"type": "json.JSONDataset", "filepath": str(root / "release" / "production.json")}},
        "promotion": {"type": "json.JSONDataset", "filepath": str(root / "promotion.json")},
    })
    runner = CachingRunner(cache_dir=root / ".stage_cache")
    runner.run(Pipeline([node(release, ["decision", "candidate"], ["production", "promotion"], name="release")]),
               catalog)
    return {d.node: d.status for d in runner.decisions}


def test_a_failed_gate_writes_nothing_and_a_passed_one_replaces_the_release(tmp_path: Path) -> None:
    prod = tmp_path / "release" / "production.json"
    assert _run(tmp_path, {"passed": False}, {"v": 1}) == {"release": "ran"}
    assert not prod.exists()
    assert json.loads((tmp_path / "promotion.json").read_text()) == {"promoted": False}
    # nothing changed: the absent release is recorded as absent, so the node is skipped
    assert _run(tmp_path, {"passed": False}, {"v": 1}) == {"release": "skipped"}
    assert _run(tmp_path, {"passed": True}, {"v": 2}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": 2}
    # a later failing candidate keeps the promoted one in place
    assert _run(tmp_path, {"passed": False}, {"v": 3}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": 2}
    assert _run(tmp_path, {"passed": False}, {"v": 3}) == {"release": "skipped"}
    # the release deleted by hand: the cache notices and runs the node again
    prod.unlink()
    assert _run(tmp_path, {"passed": False}, {"v": 3}) == {"release": "ran"}
    assert not prod.exists()
    assert _run(tmp_path, {"passed": True}, {"v": 3}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": 3}


def test_a_gated_dataset_refuses_a_bare_value(tmp_path: Path) -> None:
    ds = GatedDataset({"type": "json.JSONDataset", "filepath": str(tmp_path / "x.json")})
    with pytest.raises(Exception, match="expected a Gated value, got dict"):
        ds.save({"v": 1})
    assert not (tmp_path / "x.json").exists()
