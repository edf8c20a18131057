"""Property-based tests (hypothesis, issue #20): the contract validator and the search request model
accept exactly what their rules allow, and reject everything else with their own error type."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from discovery_pipelines.data.contract import ContractError, validate
from discovery_pipelines.serve.api import MAX_PRODUCT_IDS, SearchRequest
from discovery_pipelines.serve.service import MAX_CANDIDATES, MAX_K, MAX_QUERY_CHARS, QueryError, clean_query

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

_valid_ids = st.sampled_from(["001", "1", "B07XJ8C8F5", "hd:3f2a", "00042", "sku-7"])
ids = st.one_of(_valid_ids, _valid_ids, _valid_ids, st.sampled_from([" ", "", "\t"]), st.text(max_size=6))
gains = st.one_of(st.sampled_from([0.0, 1.0, 2.5, 3.0, math.inf]), st.floats(allow_nan=True, allow_infinity=True))


@SETTINGS
@given(rows=st.lists(st.tuples(ids, ids, gains), max_size=8))
@example(rows=[("001", "1", math.inf)])
@example(rows=[("001", "1", 1.0), ("001", "1", 2.0)])
def test_qrels_validator_accepts_exactly_the_contract(rows):
    df = pd.DataFrame(rows, columns=["query_id", "product_id", "gain"]).assign(label="x")
    expect_ok = (all(q.strip() and p.strip() for q, p, _ in rows)
                 and all(math.isfinite(g) and g >= 0 for _, _, g in rows)
                 and len({(q, p) for q, p, _ in rows}) == len(rows))
    try:
        out = validate(df, "qrels", "qrels.csv")
    except ContractError as e:
        assert not expect_ok, str(e)
        assert str(e).startswith("qrels.csv: ")
        return
    assert expect_ok
    assert out["query_id"].tolist() == [r[0] for r in rows]  # ids kept verbatim as text ("001" stays)
    assert out["gain"].map(math.isfinite).all() and (out["gain"] >= 0).all()


@SETTINGS
@given(positions=st.lists(st.one_of(st.none(), st.integers(-5, 50)), min_size=1, max_size=8),
       kinds=st.lists(st.sampled_from(["impression", "click", "purchase", "view", ""]), min_size=1, max_size=8))
@example(positions=[1, 0], kinds=["impression", "click"])
def test_events_validator_positions_and_types(positions, kinds):
    n = min(len(positions), len(kinds))
    df = pd.DataFrame({"session_id": "s", "timestamp": pd.Timestamp("2026-01-01", tz="UTC"), "query": "drill",
                       "product_id": "p1", "position": pd.array(positions[:n], dtype="Int64"),
                       "event_type": kinds[:n]})
    expect_ok = all(p is None or p >= 1 for p in positions[:n]) and all(k in ("impression", "click", "purchase")
                                                                         for k in kinds[:n])
    try:
        validate(df, "events", "events.parquet")
    except ContractError as e:
        assert not expect_ok and str(e).startswith("events.parquet: ")
        return
    assert expect_ok


def _query_ok(q: str) -> bool:
    try:
        clean_query(q)
    except QueryError:
        return False
    return True


queries = st.one_of(st.text(max_size=40), st.sampled_from(["cordless drill", "  white   paint\t", "x" * 513, ""]))


@SETTINGS
@given(query=queries, k=st.integers(-2, MAX_K + 3), mode=st.sampled_from(["dense", "bm25", "hybrid", "semantic"]),
       candidates=st.integers(0, MAX_CANDIDATES + 1),
       product_ids=st.one_of(st.none(), st.lists(st.text(min_size=0, max_size=5), max_size=5)))
def test_search_request_model_accepts_exactly_its_rules(query, k, mode, candidates, product_ids):
    body = {"query": query, "k": k, "mode": mode, "candidates": candidates, "filters": {"product_ids": product_ids}}
    expect_ok = (0 < len(query) <= MAX_QUERY_CHARS and _query_ok(query) and 1 <= k <= MAX_K
                 and mode != "semantic" and 1 <= candidates <= MAX_CANDIDATES
                 and (product_ids is None or all(1 <= len(p) <= 100 for p in product_ids)))
    try:
        req = SearchRequest.model_validate(body)
    except ValidationError:
        assert not expect_ok
        return
    assert expect_ok
    assert req.query == clean_query(query) and req.query.strip() == req.query and "  " not in req.query
    assert SearchRequest.model_validate(req.model_dump()) == req  # a validated request stays valid


def test_product_ids_list_cap_is_part_of_the_model():
    with pytest.raises(ValidationError, match="too_long|at most"):
        SearchRequest.model_validate({"query": "drill", "filters": {"product_ids": ["a"] * (MAX_PRODUCT_IDS + 1)}})
