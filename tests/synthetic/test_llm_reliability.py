"""The LLM layer against a misbehaving server (issues #19, #20): every failure kind in one run,
bad HTTP-200 bodies for generation, jury and cluster naming, Retry-After from the openai client,
and a base URL carrying a key that never reaches reports, logs or MLflow parameters."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr

from discovery_pipelines.failure_analysis.clustering import cluster_names
from discovery_pipelines.synthetic.generators import OpenAIGenerator
from discovery_pipelines.synthetic.llm import (
    ChatClient,
    LLMSettings,
    fold_system,
    public_endpoint,
    resolve_llm_settings,
)
from discovery_pipelines.synthetic.qc import LLMJury, RulesJury, quality_control
from discovery_pipelines.synthetic.schema import GenerationRequest

# One real-looking product per fault; the fake server (conftest.FakeLLM) answers by product id.
SCRIPT = {
    "P-OK": ["ok"],
    "P-429": ["429", "ok"],
    "P-5XX": ["500", "503", "ok"],
    "P-TIMEOUT": ["timeout", "ok"],
    "P-DROP": ["drop", "ok"],
    "P-TRUNC": ["truncated_body", "ok"],
    "P-HTML": ["html", "ok"],
    "P-SHAPE": ["wrong_shape"],
    "P-MALFORMED": ["malformed"],
    "P-EMPTY": ["empty", "ok"],
    "P-SCHEMA": ["schema", "ok"],
    "P-WRONGID": ["wrong_id"],
    "P-400": ["400"],
    "P-DEAD": ["503"],
}
TITLES = {pid: f"Husky {i + 3}/8 in. Drive SAE Socket Set ({pid[2:].lower()} edition)" for i, pid in enumerate(SCRIPT)}


def _settings(url: str, tmp_path: Path, **kw) -> LLMSettings:
    args = {"timeout_s": 0.5, "max_concurrency": 4, "max_retries": 3, "invalid_retries": 1,
            "cache_dir": str(tmp_path / "cache"), **kw}
    return LLMSettings(model="fake-model", base_url=url, api_key=SecretStr("sk-test-SECRET-123"), **args)


def _requests(pids):
    return [GenerationRequest(f"r-{p}", p, TITLES[p], "numeric_unit", "en", 2) for p in pids]


def test_every_failure_kind_in_one_run_is_counted_retried_or_dropped(fake_llm, tmp_path):
    fake, url = fake_llm
    fake.script = {**SCRIPT, "jury:a-0": ["wrong_shape"], "jury:b-1": ["truncated_body", "ok"],
                   "jury:c-2": ["drop", "html", "ok"], "cluster": ["truncated_body", "wrong_shape"]}
    gen = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path)))
    pairs = gen.generate(_requests(list(SCRIPT)))  # completes: no fault escapes the client
    st = gen.stats
    assert set(pairs["product_id"]) == {"P-OK", "P-429", "P-5XX", "P-TIMEOUT", "P-DROP", "P-TRUNC", "P-HTML",
                                        "P-EMPTY", "P-SCHEMA"}
    assert st["requests"] == 14 and st["requests_dropped"] == 5  # shape, malformed, wrong id, 400, dead
    # transport faults: retried by the openai client, each retry counted by kind
    assert st["retry_429"] == 1 and st["retry_timeout"] == 1 and st["retry_connection"] == 1
    assert st["retry_5xx"] == 2 + 3  # P-5XX twice; P-DEAD until max_retries=3
    # answers that are not usable: re-asked once (invalid_retries=1), then dropped
    assert st["bad_body"] == 1 + 1 + 2  # truncated, html, wrong shape twice
    assert st["malformed_json"] == 2 + 1 and st["schema_violation"] == 1 + 2
    assert st["invalid"] == 3 and st["failed"] == 2 and st["http_4xx"] == 1 and st["ok"] == 9
    assert st["calls"] == fake.total - sum(fake.calls[k] for k in fake.calls if not k.startswith("P-"))

    # the jury meets the same faults; a pair without a vote falls back to the rules jury
    jp = pd.DataFrame({"query": ["socket set 3/8", "sae socket", "drive socket set"],
                       "product_id": ["P-OK", "P-429", "P-5XX"], "group": "numeric_unit", "language": "en",
                       "request_id": ["a", "b", "c"]})
    jury = LLMJury(ChatClient(_settings(url, tmp_path / "jury")), n_jurors=1, veto="any",
                   fallback=RulesJury(model=None))
    out = quality_control(jp, TITLES, [], jury)
    assert len(out) == 3 and out["accepted"].all()
    assert jury.stats["bad_body"] == 2 + 1 + 1 and jury.stats["retry_connection"] == 1
    assert jury.stats["pairs_without_votes"] == 1 and jury.stats["ok"] == 2

    # cluster naming: no valid name within the budget -> the c-TF-IDF name, counted
    namer = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path / "naming")))
    texts = ["cordless drill 20v", "cordless drill kit", "drill driver cordless"]
    names = cluster_names(texts, [0, 0, 0], namer=namer.name_cluster)
    assert names[0].startswith("cluster:") and "drill" in names[0]
    assert namer.client.stats["bad_body"] == 2 and namer.client.stats["invalid"] == 1
    fake.script["cluster"], fake.calls["cluster"] = ["html", "ok"], 0
    named = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path / "naming2")))
    assert cluster_names(texts, [0, 0, 0], namer=named.name_cluster) == {0: "cluster:cordless-drills"}
    assert named.client.stats["bad_body"] == 1 and named.client.stats["ok"] == 1


def test_retry_after_ms_from_the_server_is_honoured(fake_llm, tmp_path):
    fake, url = fake_llm
    fake.script = {"P-429": ["retry_after", "ok"]}
    fake.retry_after_s = 1.2  # far above the client's own first backoff (<= 0.5 s)
    gen = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path)))
    pairs = gen.generate(_requests(["P-429"]))
    gap = fake.times["P-429"][1] - fake.times["P-429"][0]
    assert len(pairs) == 2 and gen.stats["retry_429"] == 1
    assert 1.2 <= gap < 3.0, gap


@pytest.mark.parametrize("url", [
    "https://user:sk-URLSECRET@gateway.example/v1",
    "https://gateway.example?api-key=sk-URLSECRET",
    "https://gateway.example/sk-URLSECRET/v1#sk-URLSECRET",
    "http://[::1]:8088/v1?key=sk-URLSECRET",
])
def test_public_endpoint_drops_userinfo_path_query_and_fragment(url):
    pub = public_endpoint(url)
    assert "URLSECRET" not in pub and pub.split("://")[0] in ("http", "https")
    s = resolve_llm_settings({}, {"model": "m", "base_url": url}, {})
    assert "URLSECRET" not in repr(s) and "URLSECRET" not in json.dumps(s.public())


def test_a_key_in_the_base_url_reaches_no_report_log_or_mlflow_param(fake_llm, tmp_path, caplog):
    fake, url = fake_llm
    keyed = url.replace("http://", "http://user:sk-URLSECRET@") + "?api-version=sk-URLSECRET"
    fake.script = {"P-429": ["429", "ok"], "P-DEAD": ["500"]}
    caplog.set_level(logging.DEBUG)
    s = resolve_llm_settings({"max_retries": 1, "timeout_s": 2, "cache_dir": str(tmp_path / "c")},
                             {"model": "fake-model", "base_url": keyed, "api_key": "sk-KEYSECRET"}, {})
    gen = OpenAIGenerator(s)
    pairs = gen.generate(_requests(["P-OK", "P-429", "P-DEAD"]))
    assert set(pairs["product_id"]) == {"P-OK", "P-429"}
    assert gen.stats["endpoint"] == url.rsplit("/", 1)[0]  # scheme://host:port
    blob = json.dumps(gen.stats) + caplog.text + "".join(p.read_text() for p in (tmp_path / "c").rglob("*.json"))
    assert "URLSECRET" not in blob and "KEYSECRET" not in blob
    # parameters are logged to MLflow by kedro-mlflow: connection settings are refused there
    with pytest.raises(ValueError, match="credentials"):
        resolve_llm_settings({"model": "m", "base_url": keyed}, {}, {})


def test_system_prompt_is_folded_into_the_user_turn_for_templates_without_a_system_role(fake_llm, tmp_path):
    fake, url = fake_llm
    fake.script = {"P-OK": ["ok", "ok"]}
    with_role = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path / "a")))
    assert len(with_role.generate(_requests(["P-OK"]))) == 2
    sent = fake.bodies[-1]["messages"]
    assert [m["role"] for m in sent][0] == "system"
    system_text = sent[0]["content"]
    folded = OpenAIGenerator(client=ChatClient(_settings(url, tmp_path / "b", system_role=False)))
    assert len(folded.generate(_requests(["P-OK"]))) == 2
    got = fake.bodies[-1]["messages"]
    assert all(m["role"] != "system" for m in got)
    assert got[0]["role"] == "user" and got[0]["content"].startswith(system_text + "\n\n")
    assert got[0]["content"].endswith(sent[1]["content"])
    assert fold_system([{"role": "system", "content": "S"}]) == [{"role": "user", "content": "S"}]
