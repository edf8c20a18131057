"""SearchEngine: dense / BM25 / hybrid against reference computations, filters inside retrieval."""

from __future__ import annotations

import re

import numpy as np
import pytest

from discovery_pipelines.search.embeddings import encode
from discovery_pipelines.search.index import export_index, load_index
from discovery_pipelines.search.models import model_fingerprint
from discovery_pipelines.search.retrieval import BM25Retriever, rrf
from discovery_pipelines.serve.service import Filters, QueryError, SearchEngine, clean_query

QUERY = "cordless drill battery"


@pytest.fixture(scope="module")
def engine(service):
    return service.engine


def _qv(st_model, q):
    """The query vector as the offline evaluation computes it (``search.embeddings.encode``, its precision rule)."""
    return encode(st_model, [q], cache_dir=None, show_progress=False)


def test_a_served_query_vector_is_the_one_the_evaluation_computed(engine, st_model):
    """A query encoded alone online gets the vector it got in an offline evaluation batch, up to the rounding
    that padding in a batch of mixed lengths brings: both at bf16 where the CPU runs it natively, fp32 elsewhere.
    Measured on 2 AMX cores: 1 - cos median ~1e-7, at most ~5e-6; an fp32 query against the bf16 evaluation
    vectors is off by 1 - cos >= 1e-5 on every query, enough to swap near-ties in a served top 20."""
    texts = [QUERY, "18 volt tool", "whiite shrt", "ss nut m12", "outdoor led flood light with motion sensor",
             "dress no sleeve", "1/2 in copper elbow", "white vanity 36 inch", "bathroom exhaust fan with light",
             "garden hose", "4x4 post base", "stainless steel dishwasher under 500"]
    batch = encode(st_model, texts, cache_dir=None, show_progress=False)
    gaps = []
    for i, t in enumerate(texts):
        served = engine.encode_query(t)[0]
        assert served.dtype == np.float32 and served.shape == batch[i].shape
        gaps.append(1 - float(served @ batch[i]))
    assert np.median(gaps) <= 2e-6 and max(gaps) <= 2e-5, gaps


def test_dense_is_exact_inner_product_search(engine, st_model, catalogue, catalogue_emb):
    res = engine.search(QUERY, k=10, mode="dense")
    scores = catalogue_emb @ _qv(st_model, QUERY)[0]
    order = np.argsort(-scores)[:10]
    assert [h.product_id for h in res.hits] == catalogue[0]["product_id"].iloc[order].tolist()
    np.testing.assert_allclose([h.score for h in res.hits], scores[order], atol=1e-5)
    assert res.dense_backend == "torch-exact-cpu" and res.n_candidates == len(catalogue[0])
    assert all(h.retrievers == ["dense"] and h.ranks == {"dense": h.rank} for h in res.hits)


def test_bm25_matches_the_reference_retriever(engine, catalogue):
    p = catalogue[0]
    ids, sc = BM25Retriever(p["title"].tolist(), p["product_id"].tolist()).search([QUERY], k=10)
    res = engine.search(QUERY, k=10, mode="bm25")
    assert [h.product_id for h in res.hits] == [i for i in ids[0] if i is not None]
    np.testing.assert_allclose([h.score for h in res.hits], sc[0][: len(res.hits)], rtol=1e-5)
    assert res.dense_backend is None


def test_hybrid_is_rrf_of_both_lists_and_explains_ranks(engine):
    dense = engine.search(QUERY, k=100, mode="dense").hits
    bm25 = engine.search(QUERY, k=100, mode="bm25").hits
    res = engine.search(QUERY, k=10, mode="hybrid", candidates=100)
    runs = {n: (np.array([[h.product_id for h in hs]], dtype=object), np.array([[h.score for h in hs]]))
            for n, hs in (("dense", dense), ("bm25", bm25))}
    ref_ids, ref_sc = rrf(runs, k=10)
    assert [h.product_id for h in res.hits] == list(ref_ids[0])
    np.testing.assert_allclose([h.score for h in res.hits], ref_sc[0], rtol=1e-6)
    d_rank = {h.product_id: h.rank for h in dense}
    b_rank = {h.product_id: h.rank for h in bm25}
    for h in res.hits:
        assert h.ranks.get("dense") == d_rank.get(h.product_id)
        assert h.ranks.get("bm25") == b_rank.get(h.product_id)
        assert h.retrievers == [n for n in ("dense", "bm25") if n in h.ranks]
        assert h.score == pytest.approx(sum(1 / (60 + r) for r in h.ranks.values()), rel=1e-6)
    assert any(len(h.retrievers) == 2 for h in res.hits)


def test_hybrid_finds_judged_products_for_real_queries(engine, catalogue):
    _, queries, qrels = catalogue
    good = qrels[qrels["gain"] >= 2.0].groupby("query_id")["product_id"].apply(set)
    hit = [bool({h.product_id for h in engine.search(t, k=10).hits} & good[q])
           for q, t in zip(queries["query_id"], queries["text"]) if q in good.index]
    assert len(hit) >= 20 and np.mean(hit) >= 0.8, np.mean(hit)


def test_category_filter_is_exact_masked_knn(engine, st_model, catalogue, catalogue_emb):
    p = catalogue[0]
    res = engine.search("18 volt tool", k=10, mode="dense", filters=Filters(category="tools > POWER tools"))
    allowed = p["category_path"].str.startswith("Tools > Power Tools").to_numpy()
    scores = np.where(allowed, catalogue_emb @ _qv(st_model, "18 volt tool")[0], -np.inf)
    want = p["product_id"].iloc[np.argsort(-scores)[: min(10, allowed.sum())]].tolist()
    assert res.n_candidates == allowed.sum() > 10
    assert [h.product_id for h in res.hits] == want
    # level boundary: "Tools > Power" is not a prefix of "Tools > Power Tools"
    none = engine.search("18 volt tool", k=10, filters=Filters(category="Tools > Power"))
    assert none.n_candidates == 0 and none.hits == []


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_availability_store_and_assortment_filters(engine, catalogue, mode):
    p = catalogue[0].set_index("product_id")
    f = Filters(available_only=True, store="atlanta")
    hits = engine.search("white paint", k=20, mode=mode, filters=f).hits
    assert hits and all(p.loc[h.product_id, "available"] and p.loc[h.product_id, "store_atlanta"] for h in hits)
    assortment = tuple(p.index[:25]) + ("no-such-product",)
    res = engine.search("light", k=50, mode=mode, filters=Filters(product_ids=assortment))
    assert res.n_candidates == 25 and {h.product_id for h in res.hits} <= set(assortment)


def test_filters_the_index_cannot_apply_are_clear_errors(engine, st_model, catalogue, catalogue_emb, tmp_path):
    with pytest.raises(QueryError, match=r"unknown store 'paris'; this index knows stores \['atlanta'\]"):
        engine.search("drill", filters=Filters(store="paris"))
    bare = export_index(tmp_path / "bare", st_model, catalogue[0][["product_id", "title"]], catalogue_emb,
                        show_progress=False)
    eng = SearchEngine(load_index(bare), st_model, model_fingerprint(st_model))
    with pytest.raises(QueryError, match="needs a category_path column"):
        eng.search("drill", filters=Filters(category="Tools"))
    with pytest.raises(QueryError, match="needs an 'available' column"):
        eng.search("drill", filters=Filters(available_only=True))
    for bad in (dict(k=0), dict(k=101), dict(mode="semantic"), dict(candidates=0)):
        with pytest.raises(QueryError):
            eng.search("drill", **bad)


def test_hnsw_index_uses_faiss_and_idselector(st_model, catalogue, catalogue_emb, tmp_path):
    p = catalogue[0]
    out = export_index(tmp_path / "hnsw", st_model, p, catalogue_emb, factory="HNSW16", save_embeddings=False,
                       search_params={"efSearch": 128}, show_progress=False)
    eng = SearchEngine(load_index(out), st_model, model_fingerprint(st_model))
    exact = catalogue_emb @ _qv(st_model, QUERY)[0]
    res = eng.search(QUERY, k=10, mode="dense")
    assert res.dense_backend == "faiss-HNSW16"
    assert len({h.product_id for h in res.hits} & set(p["product_id"].iloc[np.argsort(-exact)[:10]])) >= 9
    f = Filters(category="Tools")
    masked = eng.search(QUERY, k=10, mode="dense", filters=f)
    allowed = set(p.loc[p["category_path"].str.startswith("Tools"), "product_id"])
    assert masked.hits and {h.product_id for h in masked.hits} <= allowed
    # with embeddings exported, a filtered HNSW search is exact masked KNN instead
    out2 = export_index(tmp_path / "hnsw2", st_model, p, catalogue_emb, factory="HNSW16", show_progress=False)
    eng2 = SearchEngine(load_index(out2), st_model, model_fingerprint(st_model))
    assert eng2.search(QUERY, k=10, mode="dense", filters=f).dense_backend == "torch-exact-cpu"
    assert eng2.search(QUERY, k=10, mode="dense").dense_backend == "faiss-HNSW16"


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), (" \t\n ", "empty"), ("a" * 10_240, "10240 characters long; the limit is 512"),
     ("drill\x00", "U+0000"), ("drill\x1b[31m", "U+001B"), ("saw\x85", "U+0085"), ("pipe\ud800", "U+D800"),
     (b"drill", "must be a string")],
)
def test_bad_queries_are_rejected(text, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        clean_query(text)


def test_query_whitespace_is_normalised():
    assert clean_query("  cordless\tdrill\n 18v ") == "cordless drill 18v"
    assert clean_query("tuerca métrica ñ 水龙头") == "tuerca métrica ñ 水龙头"
