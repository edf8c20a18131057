"""Splits, metrics and retrieval evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.search.metrics import score_query, score_run, verdict
from discovery_pipelines.search.retrieval import BM25Retriever, dense_search, rrf
from discovery_pipelines.data.splits import assign_splits, split_of
from discovery_pipelines.data.text import normalize_query


def test_splits_deterministic_and_disjoint(home_depot):
    q = home_depot.queries
    key = q["text"].map(normalize_query)
    assert (q.groupby(key)["split"].nunique() == 1).all()
    frac = q["split"].value_counts(normalize=True)
    assert abs(frac["train"] - 0.7) < 0.03 and abs(frac["dev"] - 0.15) < 0.03
    # assignment does not depend on the other queries present
    again = assign_splits(q.sample(frac=0.3, random_state=1), {"train": 0.7, "dev": 0.15, "holdout": 0.15})
    assert (again["split"] == q.set_index("query_id").loc[again["query_id"], "split"].to_numpy()).all()
    assert split_of("Angle  Bracket", {"a": 0.5, "b": 0.5}) == split_of("angle bracket", {"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError):
        split_of("x", {"a": 0.5, "b": 0.6})


def test_metrics_by_hand():
    judged = {"a": 3.0, "b": 2.0, "c": 1.0}
    m = score_query(["x", "b", "a"], judged, rel_threshold=2.0)
    dcg = 2.0 / math.log2(3) + 3.0 / math.log2(4)
    idcg = 3.0 + 2.0 / math.log2(3) + 1.0 / math.log2(4)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m["mrr@10"] == pytest.approx(0.5) and m["recall@100"] == 1.0 and m["p@10"] == pytest.approx(0.2)
    qrels = pd.DataFrame({"query_id": ["q", "q", "r"], "product_id": ["a", "b", "z"], "gain": [3.0, 1.0, 1.0]})
    pq = score_run({"q": ["a"]}, qrels, 2.0)
    assert pq.set_index("query_id").loc["r", "ndcg@10"] == 0.0          # missing run scores 0
    assert math.isnan(pq.set_index("query_id").loc["r", "recall@100"])  # no relevant product
    v = verdict(pq, [{"metric": "ndcg@10", "op": ">=", "value": 0.5}])
    assert list(v) == ["Good", "Not Good"]


def test_retrievers_and_rrf():
    titles = ["stainless steel hex nut m12", "wood screw", "cordless drill 18v", "hex bolt m12 zinc"]
    ids = ["n", "s", "d", "b"]
    bm = BM25Retriever(titles, ids)
    got, sc = bm.search(["hex nut", "unknownword"], k=3)
    assert got[0, 0] == "n" and got[1, 0] is None
    q = np.eye(3, dtype=np.float32)[:2]
    d = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0]], dtype=np.float32)
    r_ids, r_sc = dense_search(q, d, ["x", "y", "z"], k=2, mask=np.array([False, True, True]))
    assert list(r_ids[0]) == ["y", "z"] and r_sc[0, 0] == pytest.approx(0.9)
    fused, _ = rrf({"a": (np.array([["x", "y"]], dtype=object), None), "b": (np.array([["y", "z"]], dtype=object), None)}, k=3)
    assert fused[0, 0] == "y"


def test_evaluate_api_small(hd_small, minilm_path, tmp_path):
    from discovery_pipelines.search.evaluation import evaluate

    q = hd_small.queries.head(60)
    r = hd_small.qrels[hd_small.qrels["query_id"].isin(set(q["query_id"]))]
    res = evaluate(str(minilm_path), hd_small.products, q, r, cache_dir=tmp_path, show_progress=False)
    assert set(res.metrics) == {"bm25", "dense", "hybrid"}
    for name, m in res.metrics.items():
        assert 0.1 < m["ndcg@10"] <= 1.0, (name, m)
        assert m["n_queries"] == q["query_id"].isin(set(r["query_id"])).sum()
    assert set(res.per_query["verdict"]) <= {"Good", "Not Good"}
    # second call hits the embedding cache: one file, same numbers
    assert len(list(tmp_path.glob("*.npy"))) == 1
    res2 = evaluate(str(minilm_path), hd_small.products, q, r, cache_dir=tmp_path, retrievers=["dense"], show_progress=False)
    assert res2.metrics["dense"]["ndcg@10"] == pytest.approx(res.metrics["dense"]["ndcg@10"])
