"""Hot swap under load: a real uvicorn server on loopback, client threads sending requests with
httpx while a newly promoted index replaces the served one. No request may fail, and results
must switch to the new index."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from discovery_pipelines.search.index import MANIFEST_FILE, export_index
from discovery_pipelines.serve.api import create_app
from discovery_pipelines.serve.service import SearchService

QUERIES = ["cordless drill", "led light bulb", "white paint", "toilet seat", "deck screws", "garden hose"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path, flat_index, minilm_path, admin_token):
    index_dir = tmp_path / "production_index"
    shutil.copytree(flat_index, index_dir)
    svc = SearchService(index_dir, minilm_path, device="cpu", poll_interval=0.2)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(svc, watch=True, admin_token=admin_token), host="127.0.0.1",
                                        port=port,
                                        log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield svc, index_dir, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def test_index_swaps_under_load_without_a_failed_request(server, st_model, catalogue, catalogue_emb):
    svc, index_dir, base = server
    old_id = svc.engine.index_id
    records: list[tuple[float, float, int, str | None, list[str]]] = []
    errors: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            n = 0
            while not stop.is_set():
                q = QUERIES[(i + n) % len(QUERIES)]
                n += 1
                t0 = time.monotonic()
                try:
                    r = c.get("/search", params={"q": q, "k": 10, "mode": "hybrid"})
                    t1 = time.monotonic()
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                        continue
                    body = r.json()
                    with lock:
                        records.append((t0, t1, r.status_code, body["index_id"], [h["product_id"] for h in body["hits"]]))
                except httpx.HTTPError as e:
                    errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    # promote a new index over the served folder: every other product only
    p, emb = catalogue[0].iloc[::2], catalogue_emb[::2]
    new_ids = set(p["product_id"])
    export_index(index_dir, st_model, p, emb, show_progress=False)
    new_id = json.loads((index_dir / MANIFEST_FILE).read_text())["index_id"]
    deadline = time.time() + 60
    while time.time() < deadline and not any(r[3] == new_id for r in records):
        time.sleep(0.05)
    time.sleep(1.0)  # keep the load on after the swap
    stop.set()
    for t in threads:
        t.join(timeout=30)

    assert not errors, errors[:5]
    seen = [r[3] for r in records]
    assert seen.count(old_id) >= 4 and seen.count(new_id) >= 4, (seen.count(old_id), seen.count(new_id))
    assert set(seen) == {old_id, new_id}
    first_new_done = min(r[1] for r in records if r[3] == new_id)
    later = [r for r in records if r[0] > first_new_done]
    assert later and all(r[3] == new_id for r in later)  # no flapping back to the old index
    assert all(set(r[4]) <= new_ids for r in records if r[3] == new_id)  # answers come from the new catalogue
    assert svc.swaps == 2  # the initial load + the promotion


def test_a_bad_promotion_keeps_the_old_index_serving(server, admin_headers):
    svc, index_dir, base = server
    old_id = svc.engine.index_id
    m = json.loads((index_dir / MANIFEST_FILE).read_text())
    m["model_fingerprint"] = "f" * 64  # an index built by another model than the served one
    m["index_id"] = "bad"
    (index_dir / MANIFEST_FILE).write_text(json.dumps(m))
    with httpx.Client(base_url=base, timeout=30) as c:
        out = c.post("/admin/reload", headers=admin_headers).json()
        assert out["swapped"] is False and "does not match the serving model" in out["message"]
        r = c.get("/search", params={"q": "drill"})
        assert r.status_code == 200 and r.json()["index_id"] == old_id
        h = c.get("/health").json()
        assert h["index_id"] == old_id and "does not match" in h["last_error"]
