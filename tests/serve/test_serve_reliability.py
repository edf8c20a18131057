"""Hostile and careless clients (issue #20): size caps, bounded error bodies, /health under load,
the admin route's token / Host / cross-origin guards, no local paths on public routes, last_error."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from discovery_pipelines.search.index import MANIFEST_FILE
from discovery_pipelines.serve.api import MAX_BODY_BYTES, MAX_PRODUCT_IDS, create_app, redact_paths
from discovery_pipelines.serve.service import SearchService


def test_an_oversized_body_is_413_before_it_is_parsed(client):
    big = json.dumps({"query": "drill", "filters": {"product_ids": ["p" * 20] * 200_000}}).encode()
    assert len(big) > MAX_BODY_BYTES
    r = client.post("/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 200 and "larger than" in r.json()["detail"]

    def chunks():  # no Content-Length: the cap is enforced on the bytes received
        for _ in range(40):
            yield b" " * 100_000

    r = client.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/health").status_code == 200  # and the app still serves


def test_a_list_over_its_cap_is_413(client, catalogue):
    ids = catalogue[0]["product_id"].tolist()
    ok = client.post("/search", json={"query": "drill", "filters": {"product_ids": ids[:50]}})
    assert ok.status_code == 200
    r = client.post("/search", json={"query": "drill", "filters": {"product_ids": ["x"] * (MAX_PRODUCT_IDS + 1)}})
    assert r.status_code == 413, r.text[:300]
    assert "product_ids" in r.json()["detail"] and len(r.content) < 300


@pytest.mark.parametrize("method", ["post", "get"])
def test_a_422_quotes_a_bounded_part_of_the_input(client, method):
    huge = "drill " * 100_000  # 600 kB, under the body cap
    if method == "post":
        r = client.post("/search", json={"query": huge, "filters": {"category": "x" * 5000}})
    else:
        r = client.get("/search", params={"q": "d" * 20_000})
    assert r.status_code == 422
    assert len(r.content) < 2_000, len(r.content)
    detail = r.json()["detail"]
    assert any("at most 512 characters" in d["msg"] for d in detail)
    assert all(len(str(d.get("input", ""))) <= 100 for d in detail)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def live(service):
    """A real uvicorn server on loopback with few search slots."""
    port = _free_port()
    app = create_app(service, max_concurrent_searches=1, max_queued_searches=4)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def test_health_answers_while_huge_bodies_and_searches_pour_in(live):
    big = json.dumps({"query": "drill", "filters": {"product_ids": ["p" * 40] * 250_000}}).encode()  # 10.5 MB
    stop = threading.Event()
    statuses: list[int] = []

    def flood(kind: str) -> None:
        with httpx.Client(base_url=live, timeout=60) as c:
            while not stop.is_set():
                if kind == "big":
                    r = c.post("/search", content=big, headers={"content-type": "application/json"})
                else:
                    r = c.get("/search", params={"q": "cordless drill", "mode": "hybrid", "k": 50})
                statuses.append(r.status_code)

    with ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(flood, "big" if i < 3 else "search") for i in range(8)]
        lat = []
        with httpx.Client(base_url=live, timeout=30) as c:
            time.sleep(0.3)
            for _ in range(20):
                t0 = time.perf_counter()
                h = c.get("/health")
                lat.append(time.perf_counter() - t0)
                assert h.status_code == 200
                time.sleep(0.05)
        stop.set()
        for f in futs:
            f.result()
    assert max(lat) < 1.5, f"/health took up to {max(lat):.2f} s under load"
    assert set(statuses) <= {200, 413, 503} and 413 in statuses and 200 in statuses


# ---------------------------------------------------------------------------------- admin route
def _admin_client(service, token="s3cret-token", hosts=("localhost",), base="http://localhost"):
    return TestClient(create_app(service, admin_token=token, allowed_hosts=hosts), base_url=base)


def test_admin_reload_is_off_without_a_token(service):
    with TestClient(create_app(service), base_url="http://localhost") as c:
        r = c.post("/admin/reload")
        assert r.status_code == 403 and "search_admin.token" in r.json()["detail"]


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "s3cret-token"}, 401),  # not a bearer credential
        ({"Authorization": "Bearer s3cret-token", "Host": "evil.example"}, 403),  # DNS rebinding
        ({"Authorization": "Bearer s3cret-token", "Host": "localhost.evil.example:8000"}, 403),
        ({"Authorization": "Bearer s3cret-token", "Origin": "http://evil.example"}, 403),
        ({"Authorization": "Bearer s3cret-token", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403),  # a simple cross-origin POST
        ({"Authorization": "Bearer s3cret-token"}, 200),
        ({"Authorization": "bearer s3cret-token", "Host": "localhost:8000", "Origin": "http://localhost:8000"}, 200),
    ],
)
def test_admin_reload_needs_token_allowed_host_and_same_origin(service, headers, status):
    with _admin_client(service) as c:
        r = c.post("/admin/reload", headers=headers, content=b"force=true")
        assert r.status_code == status, r.text
        if status != 200:
            assert "s3cret" not in r.text
        else:
            assert r.json()["message"] == "index unchanged"


def test_admin_token_comes_from_kedro_credentials_of_the_env(tmp_path, monkeypatch):
    from discovery_pipelines.serve.api import admin_token_from_credentials

    for env, tok in (("local", "tok-local"), ("prod", "${oc.env:TEST_ADMIN_TOKEN}")):
        (tmp_path / env).mkdir()
        (tmp_path / env / "credentials.yml").write_text(f"search_admin:\n  token: '{tok}'\n")
    (tmp_path / "base").mkdir()
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "tok-from-env")
    assert admin_token_from_credentials(str(tmp_path)).get_secret_value() == "tok-local"
    assert admin_token_from_credentials(str(tmp_path), "prod").get_secret_value() == "tok-from-env"
    assert admin_token_from_credentials(str(tmp_path / "missing")) is None


# ------------------------------------------------------------------------ paths and last_error
@pytest.fixture()
def own_service(tmp_path, flat_index, minilm_path):
    index_dir = tmp_path / "deploy" / "production_index"
    shutil.copytree(flat_index, index_dir)
    return SearchService(index_dir, minilm_path, device="cpu"), index_dir


def test_public_routes_show_names_not_paths(own_service, minilm_path, tmp_path):
    svc, index_dir = own_service
    with _admin_client(svc) as c:
        bodies = [c.get("/health").text, c.get("/index").text]
        info = c.get("/index").json()
        assert info["name"] == "production_index" and info["model_name"] == minilm_path.name
        shutil.move(index_dir, tmp_path / "away")
        out = c.post("/admin/reload", headers={"Authorization": "Bearer s3cret-token"}, params={"force": True})
        bodies += [out.text, c.get("/health").text]
        assert "production_index" in out.json()["message"]
    empty = SearchService(tmp_path / "nowhere" / "idx", minilm_path, device="cpu", load=False)
    with TestClient(create_app(empty)) as c:
        r = c.get("/search", params={"q": "drill"})
        assert r.status_code == 503 and "idx" in r.json()["detail"]
        bodies += [r.text, c.get("/health").text]
    for b in bodies:
        for p in (str(tmp_path), str(minilm_path), str(minilm_path.parent), "/tmp/", "/home/", "/work/"):
            assert p not in b, (p, b[:300])


def test_redact_paths_keeps_urls_and_names():
    assert redact_paths("no index at /srv/data/07_model_output/index: missing") == "no index at index: missing"
    assert redact_paths({"a": ["/x/y/model.safetensors", "http://host:8/v1"], "n": 3}) == {
        "a": ["model.safetensors", "http://host:8/v1"], "n": 3}
    assert redact_paths("C:\\Users\\me\\idx and ~/models/m1") == "idx and m1"
    assert redact_paths("data/06_models/production") == "data/06_models/production"  # relative stays


def test_last_error_clears_after_a_good_reload(own_service):
    svc, index_dir = own_service
    good = (index_dir / MANIFEST_FILE).read_text()
    m = json.loads(good)
    m["model_fingerprint"] = "f" * 64
    with _admin_client(svc) as c:
        auth = {"Authorization": "Bearer s3cret-token"}
        (index_dir / MANIFEST_FILE).write_text(json.dumps(m))
        assert c.post("/admin/reload", headers=auth).json()["swapped"] is False
        assert "does not match" in c.get("/health").json()["last_error"]
        (index_dir / MANIFEST_FILE).write_text(good)  # the operator puts the good index back
        assert c.post("/admin/reload", headers=auth).json()["message"] == "index unchanged"
        assert c.get("/health").json()["last_error"] is None
        (index_dir / MANIFEST_FILE).write_text("{not json")
        c.post("/admin/reload", headers=auth)
        assert c.get("/health").json()["last_error"]
        (index_dir / MANIFEST_FILE).write_text(good)
        c.post("/admin/reload", headers=auth, params={"force": True})
        assert c.get("/health").json()["last_error"] is None
