"""The CI-retraining workflow: valid GitHub Actions (actionlint), the right triggers and steps, and a gate
check that turns a failed regression gate into a failed job."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "retrain.yml"
GATE = ROOT / "results" / "finetune" / "default_run" / "finetune" / "gate.json"  # a real run's report


def _actionlint(*files: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert exe, "actionlint not installed: it is in the test extra (bash scripts/setup.sh)"
    return subprocess.run([exe, "-no-color", *map(str, files)], capture_output=True, text=True, timeout=120)


def test_every_workflow_passes_actionlint():
    files = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert WORKFLOW in files
    proc = _actionlint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_copy(tmp_path):
    """The check can fail: an unknown runner label and a bad expression are reported."""
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    broken = WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-42.04").replace(
        "${{ github.ref }}", "${{ github.reff }}")
    (wf / "retrain.yml").write_text(broken)
    proc = _actionlint(wf / "retrain.yml")
    assert proc.returncode == 1
    assert "ubuntu-42.04" in proc.stdout and "reff" in proc.stdout


def test_workflow_runs_the_ci_env_on_schedule_and_config_changes_and_uploads_reports():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    assert on["schedule"][0]["cron"]
    assert {"conf/**", "data/01_raw/**"} <= set(on["push"]["paths"])
    steps = wf["jobs"]["retrain"]["steps"]
    runs = [s.get("run", "") for s in steps]
    i_run = next(i for i, r in enumerate(runs) if "kedro run --pipeline=finetune --env=ci" in r)
    i_gate = next(i for i, r in enumerate(runs) if "scripts/check_gate.py" in r)
    assert i_run < i_gate
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert {u["with"]["name"] for u in uploads} == {"gate-report", "mlflow-run"}
    assert all(u["if"] == "always()" for u in uploads)  # uploaded even when the gate step fails
    assert any("gate.json" in u["with"]["path"] for u in uploads)
    assert any("mlflow.db" in u["with"]["path"] for u in uploads)


def _check_gate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "check_gate.py"), str(path)],
                          capture_output=True, text=True, timeout=60)


def test_check_gate_exit_codes(tmp_path):
    gate = json.loads(GATE.read_text())
    assert gate["passed"] is True
    ok = _check_gate(GATE)
    assert ok.returncode == 0 and "gate passed" in ok.stdout
    failed = dict(gate, passed=False, checks={**gate["checks"], "good_to_not_good_flips": {
        **gate["checks"]["good_to_not_good_flips"], "value": 26, "passed": False}})
    (tmp_path / "gate.json").write_text(json.dumps(failed))
    bad = _check_gate(tmp_path / "gate.json")
    assert bad.returncode == 1
    assert "FAIL  good_to_not_good_flips: 26 (limit <= 25)" in bad.stdout and "gate FAILED" in bad.stdout
    missing = _check_gate(tmp_path / "nope.json")
    assert missing.returncode == 2 and "nope.json: no usable gate report" in missing.stderr
    (tmp_path / "partial.json").write_text(json.dumps({"checks": {}}))
    assert _check_gate(tmp_path / "partial.json").returncode == 2
