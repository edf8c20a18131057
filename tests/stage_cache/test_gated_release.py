"""A gated release goes through the catalog: written only when its gate passed, the previous release kept
otherwise (or, where there is none yet, the node's fallback written), and the stage cache neither re-runs the
node for an output absent by design nor misses a change."""

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


def _run(root: Path, decision: dict, candidate: dict, func=release) -> dict[str, str]:
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
    runner.run(Pipeline([node(func, ["decision", "candidate"], ["production", "promotion"], name="release")]),
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


# ---- fallback: what a failed gate releases where nothing was released yet (a first run) ----

def _json_gated(path: Path) -> GatedDataset:
    return GatedDataset({"type": "json.JSONDataset", "filepath": str(path)})


def test_a_failed_gate_writes_its_fallback_only_where_nothing_exists(tmp_path: Path, caplog) -> None:
    path = tmp_path / "release" / "production.json"
    ds = _json_gated(path)
    with caplog.at_level("WARNING", logger="discovery_pipelines.data.datasets"):
        ds.save(Gated(None, False, "gate failed", fallback={"v": "production"}))
    assert json.loads(path.read_text()) == {"v": "production"}
    assert ds.load() == {"v": "production"} and ds.exists()
    assert f"no previous release at {path}: released the fallback (gate failed)" in caplog.text
    # a release exists now: a later failure leaves it byte-identical, whatever its fallback
    before = path.read_bytes()
    ds.save(Gated(None, False, "gate failed", fallback={"v": "another"}))
    assert path.read_bytes() == before
    # a pass still replaces it (the fallback is ignored)
    ds.save(Gated({"v": 2}, True, fallback={"v": "ignored"}))
    assert json.loads(path.read_text()) == {"v": 2}


def test_a_failed_gate_keeps_an_existing_release_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "production.json"
    path.write_text('{"v":  "previous release"}\n')   # not what JSONDataset would write: any rewrite shows
    before = path.read_bytes()
    _json_gated(path).save(Gated(None, False, "gate failed", fallback={"v": "production"}))
    assert path.read_bytes() == before


def test_a_failed_gate_without_a_fallback_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "production.json"
    _json_gated(path).save(Gated(None, False, "gate failed"))
    assert not path.exists()
    _json_gated(path).save(Gated({"v": 1}, True))
    assert json.loads(path.read_text()) == {"v": 1}


def release_with_fallback(decision: dict, candidate: dict) -> tuple[Gated, dict]:
    ok = bool(decision["passed"])
    return Gated(candidate if ok else None, ok, "gate failed", fallback={"v": "production"}), {"promoted": ok}


def test_the_stage_cache_records_a_fallback_release_like_any_write(tmp_path: Path) -> None:
    prod = tmp_path / "release" / "production.json"

    def run(decision: dict, candidate: dict) -> dict[str, str]:
        return _run(tmp_path, decision, candidate, func=release_with_fallback)

    assert run({"passed": False}, {"v": 1}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": "production"}
    assert run({"passed": False}, {"v": 1}) == {"release": "skipped"}
    # a new failing candidate: the node runs, the first release (the fallback) stays
    before = prod.read_bytes()
    assert run({"passed": False}, {"v": 2}) == {"release": "ran"}
    assert prod.read_bytes() == before
    assert run({"passed": True}, {"v": 3}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": 3}
    # the release deleted by hand: the cache notices, and the failing node releases the fallback again
    assert run({"passed": False}, {"v": 4}) == {"release": "ran"}
    prod.unlink()
    assert run({"passed": False}, {"v": 4}) == {"release": "ran"}
    assert json.loads(prod.read_text()) == {"v": "production"}
