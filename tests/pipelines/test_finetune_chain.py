"""The whole main job (`kedro run --pipeline=finetune --env=ci`) on a small real Home Depot slice.

Runs in a scratch copy of the project (its own conf/ and data/), so the developer's data is untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    return Path(os.environ.get("DISCOVERY_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="module")
def ci_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # the package itself is imported from the installed (editable) project
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
                  "07_model_output", "08_reporting"):
        (root / "data" / layer).mkdir(parents=True)
    # reuse the developer's embedding cache when there is one (content-keyed, so always safe)
    cache = PROJECT_ROOT / "data" / "07_model_output" / "embedding_cache"
    if cache.exists():
        (root / "data" / "07_model_output" / "embedding_cache").symlink_to(cache)
    return root


def _kedro(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DISCOVERY_DATA_ROOT=str(data_root()), KEDRO_DISABLE_TELEMETRY="true",
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    kedro = Path(sys.executable).with_name("kedro")
    return subprocess.run([str(kedro), "run", *args], cwd=root, env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_finetune_chain_ci(ci_project: Path):
    proc = _kedro(ci_project, "--pipeline=finetune", "--env=ci")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    rep = ci_project / "data" / "08_reporting"
    gate = json.loads((rep / "finetune" / "gate.json").read_text())
    metrics = json.loads((rep / "finetune" / "metrics.json").read_text())
    assert set(metrics["by_split"]["dev"]) == {"base", "reference", "candidate", "student"}
    for m in metrics["by_split"]["dev"].values():
        assert 0.0 < m["ndcg@10"] <= 1.0
    assert set(gate["checks"]) == {"dev_gain", "good_to_not_good_flips", "regression_ndcg_loss"}
    promoted = gate["promotion"]["promoted"]
    assert promoted == gate["passed"]
    # the gate chose between today's candidate and the distilled student: the better passing one on dev
    contenders = gate["contenders"]
    assert set(contenders) == {"candidate", "student"}
    passing = {n: c["dev_ndcg@10"] for n, c in contenders.items() if c["passed"]}
    assert gate["chosen"] == (max(passing, key=passing.get) if passing else None)
    if promoted:
        assert gate["promotion"]["model"] == gate["chosen"]
    else:   # a fresh project has no release yet: the production checkpoint is released instead
        assert gate["promotion"]["fallback"].endswith("released only where no release exists yet")
    index_dir = ci_project / "data" / "07_model_output" / "index"
    assert (index_dir / "manifest.json").exists()
    assert (ci_project / "data" / "06_models" / "production" / "modules.json").exists()
    # every upstream stage produced its report
    for f in ("evaluate/metrics.json", "log_mining/report.json", "failure_analysis", "synthetic", "finetune/report.md"):
        assert (rep / f).exists(), f
    pairs_stats = json.loads((rep / "finetune" / "training_pair_stats.json").read_text())
    assert pairs_stats["kept"].get("qrels", 0) > 0
    aug = json.loads((rep / "finetune" / "augmentation_stats.json").read_text())
    assert aug["rate"] == 0.25 and 0 < aug["noised"] < aug["eligible"]
    # the candidate's throughput is compared with sentence-transformers' trainer alone on the same rows
    cand = json.loads((rep / "finetune" / "candidate_summary.json").read_text())
    assert cand["st_trainer_alone"]["steps"] == 2 and cand["st_trainer_alone"]["examples_per_second"] > 0
    assert cand["throughput_ratio_vs_st_trainer"] == pytest.approx(
        cand["examples_per_second"] / cand["st_trainer_alone"]["examples_per_second"])
    assert "trainer alone on the same rows" in (rep / "finetune" / "report.md").read_text()
    # the quality stage: every mode on dev and holdout, CIs against BM25, the served choice in the manifest
    quality = json.loads((rep / "quality" / "metrics.json").read_text())
    for split in ("dev", "holdout"):
        systems = quality["by_split"][split]
        chosen = gate["chosen"] if gate["passed"] else "base"   # what serves (the production checkpoint if failed)
        assert {"bm25", "dense:base", "dense:candidate", "dense:student", "hybrid:candidate", "hybrid:student",
                f"rerank:{chosen}", f"ltr:{chosen}"} <= set(systems)
        assert quality["promoted"] == chosen
        ci = systems[f"rerank:{chosen}"]["vs_bm25"]
        assert ci["low"] <= ci["mean"] <= ci["high"]
    fusion = quality["fusion"][quality["promoted"]]
    assert fusion["dev_ndcg@10"] >= max(fusion["inputs_dev_ndcg@10"].values()) - 1e-9
    assert -1.0 <= quality["teacher_agreement_dev"]["spearman_vs_gain"] <= 1.0
    assert set(quality["latency_ms"]) == {"bm25", "dense", "hybrid", "rerank", "ltr"}
    assert quality["ltr"]["judged_rows"] > 0 and "ltr" in quality["serving"]["dev_ndcg@10"]
    # label expansion by the teacher and the distilled student (distill stage)
    expansion = json.loads((rep / "distill" / "label_expansion_stats.json").read_text())
    assert expansion["scored_pairs"] > expansion["unjudged_pairs"] > 0
    assert expansion["human_labels_of_sampled_train_queries"] > 0 and expansion["teacher_pairs_per_second"] > 0
    assert expansion["teacher_pairs_per_human_label"] == pytest.approx(
        expansion["unjudged_pairs"] / expansion["human_labels_of_sampled_train_queries"])
    rows = json.loads((rep / "distill" / "student_example_stats.json").read_text())
    assert rows["rows"] > 0 and rows["teacher_margin_mean"] > 0
    student = json.loads((rep / "distill" / "student_summary.json").read_text())
    assert student["config"]["loss"] == "distill_kl" and student["selected_step"] in (2, 4)
    assert any("loss" in h for h in student["history"])
    dm = json.loads((rep / "distill" / "metrics.json").read_text())
    assert dm["label_expansion"]["scored_pairs"] == expansion["scored_pairs"]
    assert dm["throughput"]["student_training"]["value"] == student["examples_per_second"] > 0
    assert dm["throughput"]["teacher_scoring"]["budget"]["unit"] == "queries"
    assert "Served default mode" in (rep / "quality" / "report.md").read_text()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["default_mode"] == quality["serving"]["default_mode"]
    assert manifest["fusion"] == fusion["config"]
    assert (index_dir / manifest["reranker"]["dir"] / "config.json").exists()
    assert manifest["ltr"]["depth"] == quality["serving"]["ltr_depth"] and (index_dir / manifest["ltr"]["file"]).exists()
    assert ("Served model = `base` (gate failed" in (rep / "quality" / "report.md").read_text()) == (not promoted)

    # second run with nothing changed: every node is skipped by the stage cache
    proc2 = _kedro(ci_project, "--pipeline=finetune", "--env=ci")
    assert proc2.returncode == 0, proc2.stderr[-4000:]
    last = json.loads((ci_project / "data" / ".stage_cache" / "last_run.json").read_text())
    statuses = [n["status"] for n in last["nodes"]] if isinstance(last.get("nodes"), list) else [
        v["status"] for v in last["nodes"].values()]
    assert statuses and all(s == "skipped" for s in statuses), statuses
