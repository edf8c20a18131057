"""Credentials come through Kedro's config loader for the run's env (issue #19), via CredentialsHooks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from discovery_pipelines import hooks
from discovery_pipelines.synthetic.llm import load_credentials

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def conf(tmp_path, monkeypatch) -> Path:
    """The project's conf with env-specific credentials: local and staging."""
    monkeypatch.setattr(hooks, "_CREDENTIALS", None)  # restored after the test
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    dst = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", dst / "base")
    for env, model in (("local", "local-model"), ("staging", "${oc.env:TEST_STAGING_MODEL}")):
        (dst / env).mkdir()
        (dst / env / "credentials.yml").write_text(
            f"synthetic_llm:\n  model: '{model}'\n  base_url: http://127.0.0.1:9/v1\n  api_key: sk-{env}\n")
    monkeypatch.setenv("TEST_STAGING_MODEL", "staging-model")
    return dst


def test_kedro_session_env_selects_the_credentials(conf, monkeypatch):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{conf.parent / 'mlflow.db'}")
    bootstrap_project(PROJECT_ROOT)
    for env, want in ((None, "local-model"), ("staging", "staging-model")):
        with KedroSession.create(project_path=PROJECT_ROOT, env=env, conf_source=str(conf)) as session:
            session.load_context()
            assert load_credentials("synthetic_llm")["model"] == want
            assert load_credentials("synthetic_llm")["api_key"] == f"sk-{env or 'local'}"
            assert load_credentials("no_such_entry") == {}


def test_outside_a_session_env_and_kedro_env_are_honoured(conf, monkeypatch):
    assert load_credentials("synthetic_llm", conf)["model"] == "local-model"
    assert load_credentials("synthetic_llm", conf, "staging")["model"] == "staging-model"
    monkeypatch.setenv("KEDRO_ENV", "staging")
    assert load_credentials("synthetic_llm", conf)["model"] == "staging-model"
    assert load_credentials("synthetic_llm", conf.parent / "missing") == {}
