"""HTTP API in-process (FastAPI TestClient): answers, explanations, and 4xx for bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from discovery_pipelines.serve.api import create_app
from discovery_pipelines.serve.service import SearchService


def test_get_search_returns_explained_hits(client, service):
    r = client.get("/search", params={"q": "cordless drill", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "hybrid" and body["k"] == 5 and len(body["hits"]) == 5
    assert body["index_id"] == service.engine.index_id
    h = body["hits"][0]
    assert set(h) == {"rank", "product_id", "title", "score", "retrievers", "ranks", "scores"}
    assert h["rank"] == 1 and set(h["ranks"]) == set(h["retrievers"]) <= {"dense", "bm25"}
    assert "drill" in " ".join(x["title"].lower() for x in body["hits"])


def test_post_search_with_assortment_and_category(client, catalogue):
    p = catalogue[0]
    ids = p.loc[p["category_path"].str.startswith("Lighting"), "product_id"].tolist()
    r = client.post("/search", json={"query": "led light bulb", "k": 50, "mode": "dense",
                                     "filters": {"product_ids": ids[:10] + ["unknown"], "category": "lighting"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_candidates"] == 10 and {h["product_id"] for h in body["hits"]} == set(ids[:10])
    assert body["dense_backend"] == "torch-exact-cpu"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"q": ""}, "at least 1 character"),
        ({"q": "   "}, "query is empty"),
        ({"q": "x" * 10_240}, "at most 512 characters"),
        ({"q": "drill\x07"}, "control or surrogate character U+0007"),
        ({"q": "drill", "k": 0}, "greater than or equal to 1"),
        ({"q": "drill", "k": 101}, "less than or equal to 100"),
        ({"q": "drill", "k": "ten"}, "valid integer"),
        ({"q": "drill", "mode": "semantic"}, "'dense', 'bm25', 'hybrid', 'rerank' or 'ltr'"),
        ({"q": "drill", "colour": "red"}, "Extra inputs are not permitted"),
        ({}, "Field required"),
    ],
)
def test_bad_get_requests_are_422_with_a_clear_message(client, params, message):
    r = client.get("/search", params=params)
    assert r.status_code == 422, r.text
    assert message in r.text


def test_non_utf8_query_string_is_rejected(client):
    r = client.get("/search?q=drill%FF%FE")
    assert r.status_code == 422 and "not valid UTF-8" in r.json()["detail"]
    r = client.get("/search?q=" + "%E6%B0%B4%E9%BE%99%E5%A4%B4")  # valid UTF-8 (水龙头) is searched
    assert r.status_code == 200 and r.json()["query"] == "水龙头"


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"query": "drill", "filters": {"brand": "DEWALT"}}, 422, "Extra inputs are not permitted"),
        ({"query": "drill", "sort": "price"}, 422, "Extra inputs are not permitted"),
        ({"query": "drill", "filters": {"store": "paris"}}, 404, "unknown store 'paris'"),
        ({"query": "drill", "filters": {"category": "Tools\x00"}}, 422, "control or surrogate"),
        ({"query": "drill\u2028\x0b"}, 422, "U+000B"),
        ({"query": "drill", "k": 1000}, 422, "less than or equal to 100"),
        ({"query": 42}, 422, "valid string"),
        ({"query": "drill", "filters": {"available_only": 0.0}}, 422, "valid boolean"),   # the schema says boolean
        ({"query": "drill", "filters": {"available_only": "yes"}}, 422, "valid boolean"),
    ],
)
def test_bad_post_bodies(client, body, status, message):
    r = client.post("/search", json=body)
    assert r.status_code == status, r.text
    assert message in r.text


def test_non_utf8_and_non_json_bodies_are_4xx(client):
    for raw in (b'{"query": "dr\xffill"}', b"not json", b""):
        r = client.post("/search", content=raw, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)


def test_health_index_and_openapi(client, service):
    h = client.get("/health")
    assert h.status_code == 200 and h.json()["ready"] and h.json()["index_id"] == service.engine.index_id
    info = client.get("/index").json()
    assert info["n_vectors"] == service.engine.n and info["stores"] == ["atlanta"] and info["metric"] == "ip"
    spec = client.get("/openapi.json").json()
    get = spec["paths"]["/search"]["get"]
    assert {"200", "400", "404", "422", "503"} <= set(get["responses"])
    assert {p["name"] for p in get["parameters"]} >= {"q", "k", "mode", "category", "available_only", "store"}
    assert spec["components"]["schemas"]["SearchFilters"]["additionalProperties"] is False


def test_without_an_index_the_api_answers_503_and_recovers(tmp_path, flat_index, minilm_path, admin_headers,
                                                          admin_token):
    import shutil

    svc = SearchService(tmp_path / "idx", minilm_path, device="cpu", load=False)
    with TestClient(create_app(svc, admin_token=admin_token), base_url="http://localhost") as c:
        assert c.get("/health").status_code == 503
        r = c.get("/search", params={"q": "drill"})
        assert r.status_code == 503 and "no index loaded" in r.json()["detail"]
        out = c.post("/admin/reload", headers=admin_headers).json()
        assert out["swapped"] is False and "does not exist" in out["message"]
        shutil.copytree(flat_index, tmp_path / "idx")
        out = c.post("/admin/reload", headers=admin_headers).json()
        assert out["swapped"] is True and out["previous_index_id"] is None
        assert c.get("/search", params={"q": "drill"}).status_code == 200
        assert c.post("/admin/reload", headers=admin_headers).json()["message"] == "index unchanged"
