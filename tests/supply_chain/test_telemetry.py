"""Kedro's and MLflow's telemetry are off by default, with no opt-out variable set by the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables that would turn telemetry off on their own (CI detection included): removed so the test sees
# what a user's plain shell gets.
_OFF = ("KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "CI", "PYTEST_CURRENT_TEST",
        "GITHUB_ACTIONS", "GITHUB_ACTION", "JENKINS_URL", "BUILD_ID", "CIRCLECI", "TRAVIS", "BUILDKITE",
        "CODEBUILD_BUILD_ID", "TF_BUILD", "GITLAB_CI", "BITBUCKET_BUILD_NUMBER", "CODESPACES")

_PROBE = """
import json, pathlib, sys
import mlflow                       # first, as kedro-mlflow's CLI plugin does under `kedro run`
import discovery_pipelines          # the project's settings import this
from mlflow.telemetry.client import get_telemetry_client
from mlflow.telemetry.utils import is_telemetry_disabled
from kedro_telemetry.plugin import _check_for_telemetry_consent
print(json.dumps({"mlflow_client": get_telemetry_client() is not None,
                  "mlflow_disabled": is_telemetry_disabled(),
                  "kedro_consent": _check_for_telemetry_consent(pathlib.Path(sys.argv[1]))}))
"""


def _probe(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(ROOT)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_telemetry_is_off_without_any_opt_out_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in _OFF and not k.startswith("MLFLOW_TELEMETRY")}
    got = _probe(env)
    assert got == {"mlflow_client": False, "mlflow_disabled": True, "kedro_consent": False}


def test_kedro_consent_file_is_committed_and_says_no() -> None:
    import yaml

    assert yaml.safe_load((ROOT / ".telemetry").read_text()) == {"consent": False}
