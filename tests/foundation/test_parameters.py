"""Typed configuration: every pipeline's parameters are pydantic models; a misspelt key is an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from discovery_pipelines.data.params import ParameterError, project_schemas, validate, validate_all
from discovery_pipelines.settings import CONFIG_LOADER_ARGS

PROJECT = Path(__file__).resolve().parents[2]
PIPELINE_KEYS = {"ingest", "log_mining", "evaluate", "failure_analysis", "synthetic", "finetune"}


def _params(env: str) -> dict:
    return OmegaConfigLoader(str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})["parameters"]


@pytest.mark.parametrize("env", ["local", "ci"])
def test_every_pipeline_block_has_a_schema_and_the_project_conf_is_valid(env):
    params = _params(env)
    assert PIPELINE_KEYS <= set(project_schemas())
    models = validate_all(params)
    assert PIPELINE_KEYS <= set(models)
    # nested blocks are models too, with the configured values
    assert models["finetune"].candidate.train.batch_size == params["finetune"]["candidate"]["train"]["batch_size"]
    assert models["log_mining"].mining.params.min_impressions == \
        params["log_mining"]["mining"]["params"]["min_impressions"]


@pytest.mark.parametrize("block,key", [
    ("finetune", ("augment", "typo_rat")),
    ("finetune", ("candidate", "train", "learning_rat")),
    ("log_mining", ("events", "click_model", "etta")),
    ("evaluate", ("retriever",)),
    ("synthetic", ("qc", "jury", "vetoo")),
    ("failure_analysis", ("n_cluster",)),
    ("ingest", ("max_product",)),
])
def test_a_misspelt_key_is_an_error_naming_it(block, key):
    params = _params("local")
    bad = {**params}
    node = bad[block] = dict(bad[block])
    for k in key[:-1]:
        node[k] = dict(node[k])
        node = node[k]
    node[key[-1]] = 1
    with pytest.raises(ParameterError, match=rf"{block}\.{'.'.join(key)}: Extra inputs are not permitted"):
        validate_all(bad)


def test_wrong_types_and_values_are_named():
    with pytest.raises(ParameterError, match=r"finetune\.negatives\.sampling"):
        from discovery_pipelines.finetune.params import NegativesParams

        validate(NegativesParams, {"sampling": "best"}, "finetune.negatives")


def test_kedro_context_refuses_a_misspelt_key_before_any_node(monkeypatch):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)
    with KedroSession.create(PROJECT, runtime_params={"finetune": {"gate": {"max_flip": 3}}}) as session:
        with pytest.raises(ParameterError, match=r"finetune\.gate\.max_flip: Extra inputs are not permitted"):
            session.load_context()
