"""Carousels fixtures: a small real slice of instacart_histories (via the data root) and the project's
fake OpenAI-compatible server (tests/synthetic/conftest.py), loaded by path."""

from __future__ import annotations

import importlib.util
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

_spec = importlib.util.spec_from_file_location("synthetic_fake_llm", Path(__file__).parents[1] / "synthetic" / "conftest.py")
fake_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_mod)  # type: ignore[union-attr]


@pytest.fixture()
def fake_server():
    """``(fake, base_url)``: the project's fake server; set ``fake.responder`` to answer carousel requests."""
    fake = fake_mod.FakeLLM()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), fake_mod.make_handler(fake))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield fake, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="session")
def ic_slice(datasets_root: Path):
    """Histories of 40 real Instacart users (all their baskets) and only the products they bought."""
    from discovery_pipelines.data.ingest import load_instacart_histories

    h = load_instacart_histories(datasets_root / "instacart_histories")
    users = sorted(h.lines["user_id"].unique())[:40]
    lines = h.lines[h.lines["user_id"].isin(users)].reset_index(drop=True)
    prods = h.products[h.products["product_id"].isin(set(lines["product_id"]))].reset_index(drop=True)
    return lines, prods


@pytest.fixture(scope="session")
def jury_titles() -> pd.DataFrame:
    from discovery_pipelines.carousels import jury

    return pd.read_csv(Path(jury.__file__).parent / "labels" / "jury_titles.csv", keep_default_na=False)
