"""The one implementation each of per-split evaluation, masked top-k, the Wilson interval and the
judged + sampled catalogue slice, on a real Home Depot slice (BM25 needs no model) or exact references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest

from discovery_pipelines.data.splits import judged_and_sampled
from discovery_pipelines.search.evaluation import evaluate, evaluate_splits
from discovery_pipelines.search.metrics import wilson_interval
from discovery_pipelines.search.retrieval import masked_top_k


def test_evaluate_splits_is_evaluate_per_split_and_model(hd_small):
    q, qr, p = hd_small.queries, hd_small.qrels, hd_small.products
    res = evaluate_splits({"a": None, "b": None}, p, q, qr, splits=("dev", "holdout"), retrievers=["bm25"])
    assert set(res.metrics) == {"dev", "holdout"} and set(res.metrics["dev"]) == {"a", "b"}
    for split in ("dev", "holdout"):
        qs = q[q["split"] == split]
        direct = evaluate(None, p, qs, qr[qr["query_id"].isin(set(qs["query_id"]))], retrievers=["bm25"])
        assert res.metrics[split]["a"] == direct.metrics == res.metrics[split]["b"]
        rows = res.per_query[(res.per_query["split"] == split) & (res.per_query["model"] == "a")]
        pd.testing.assert_frame_equal(rows.drop(columns=["split", "model"]).reset_index(drop=True), direct.per_query)
        assert res.timings[split]["a"]["total_s"] >= res.timings[split]["a"]["bm25_s"] > 0
    assert set(res.per_query["query_id"]) <= set(q["query_id"])


def test_masked_top_k_matches_a_brute_force_ranking():
    rng = np.random.default_rng(0)
    qe, de = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32)
    mask = rng.random(40) > 0.5
    pos, sc = masked_top_k(torch.from_numpy(qe), torch.from_numpy(de), 7, mask)
    full = qe @ de.T
    full[:, ~mask] = -np.inf
    want = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(pos, want)
    np.testing.assert_allclose(sc, np.take_along_axis(full, want, axis=1), rtol=1e-5)
    assert mask[pos].all()
    # fewer allowed documents than k: the rest come back with score -inf
    few = np.zeros(40, dtype=bool)
    few[[3, 9]] = True
    pos, sc = masked_top_k(torch.from_numpy(qe), torch.from_numpy(de), 4, few)
    assert np.isfinite(sc[:, :2]).all() and np.isneginf(sc[:, 2:]).all()
    assert all(set(r[:2]) == {3, 9} for r in pos)


@pytest.mark.parametrize("k,n", [(0, 7), (4, 9), (9, 9), (120, 4000)])
def test_wilson_interval_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n, z=1.959963984540054)
    assert float(lo) == pytest.approx(ci.low, abs=1e-12) and float(hi) == pytest.approx(ci.high, abs=1e-12)


def test_wilson_interval_vectorised_and_empty():
    lo, hi = wilson_interval(np.array([0, 3, 300]), np.array([0, 3, 400]))
    assert (lo[0], hi[0]) == (0.0, 1.0)
    assert lo[1] < lo[2] and (lo <= hi).all()


def test_judged_and_sampled_keeps_every_judged_product(hd_small):
    p, qr = hd_small.products, hd_small.qrels
    judged = set(qr["product_id"].head(50))
    out = judged_and_sampled(p, judged, 100, seed=3)
    assert judged <= set(out["product_id"]) and len(out) == len(judged & set(p["product_id"])) + 100
    assert out["product_id"].is_unique and list(out.index) == list(range(len(out)))
    order = p.reset_index(drop=True).reset_index().set_index("product_id")["index"]
    assert order.loc[out["product_id"]].is_monotonic_increasing        # catalogue order kept
    pd.testing.assert_frame_equal(out, judged_and_sampled(p, judged, 100, seed=3))
    assert set(out["product_id"]) != set(judged_and_sampled(p, judged, 100, seed=4)["product_id"])
    assert len(judged_and_sampled(p, judged, -5)) == len(judged & set(p["product_id"]))
    assert len(judged_and_sampled(p, judged, 10**9)) == len(p)
