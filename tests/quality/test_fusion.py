"""Hybrid fusion (RRF vs weighted sum of normalised scores), its choice on dev, paired bootstrap and budgets,
on real BM25 and MiniLM runs over the small Home Depot catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from discovery_pipelines.finetune.budget import choose_precision, cpu_features, plan_steps
from discovery_pipelines.search import metrics as M
from discovery_pipelines.search.embeddings import encode, product_texts
from discovery_pipelines.search.fusion import FusionConfig, default_grid, fuse, tune_fusion, weighted_sum
from discovery_pipelines.search.retrieval import BM25Retriever, dense_search, rrf, run_to_dict


@pytest.fixture(scope="module")
def runs(catalogue, catalogue_emb, st_model):
    products, queries, qrels = catalogue
    ids = products["product_id"].tolist()
    texts = queries["text"].tolist()
    bm25 = BM25Retriever(product_texts(products), ids).search(texts, k=100)
    dense = dense_search(encode(st_model, texts, cache_dir=None, show_progress=False), catalogue_emb, ids, k=100)
    return queries["query_id"].tolist(), {"bm25": bm25, "dense": dense}, qrels


def _ndcg(qids, run, qrels):
    return float(M.score_run(run_to_dict(qids, run), qrels, 2.0)["ndcg@10"].mean())


def test_weighted_sum_is_the_convex_combination_of_min_max_scores(runs):
    qids, two, _ = runs
    ids, sc = weighted_sum(two, {"bm25": 0.3, "dense": 0.7}, k=20)
    qi = 0
    expect: dict[str, float] = {}
    for name, w in (("bm25", 0.3), ("dense", 0.7)):
        keep = [j for j, p in enumerate(two[name][0][qi]) if p is not None]
        s = two[name][1][qi][keep].astype(float)
        for j, v in zip(keep, (s - s.min()) / (s.max() - s.min())):
            pid = two[name][0][qi][j]
            expect[pid] = expect.get(pid, 0.0) + w * v
    top = sorted(expect.items(), key=lambda kv: -kv[1])[:20]
    assert list(ids[qi]) == [p for p, _ in top]
    np.testing.assert_allclose(sc[qi], [v for _, v in top], rtol=1e-5)
    assert np.all(np.diff(sc, axis=1) <= 1e-6)


def test_alpha_zero_or_one_reproduces_one_input(runs):
    qids, two, qrels = runs
    only_bm25 = fuse(two, FusionConfig("weighted", {"bm25": 1.0, "dense": 0.0}), k=100)
    only_dense = fuse(two, FusionConfig("weighted", {"bm25": 0.0, "dense": 1.0}), k=100)
    for qi in range(len(qids)):   # same order of dense scores (products with equal titles tie)
        score = dict(zip(two["dense"][0][qi], two["dense"][1][qi]))
        np.testing.assert_allclose([score[p] for p in only_dense[0][qi][:10]], two["dense"][1][qi][:10], rtol=1e-6)
    assert _ndcg(qids, only_bm25, qrels) >= _ndcg(qids, two["bm25"], qrels) - 1e-9
    rrf_default = fuse(two, FusionConfig(), k=100)
    ref = rrf(two, k=100)
    assert all(list(a) == list(b) for a, b in zip(rrf_default[0], ref[0]))


def test_tuned_fusion_is_never_worse_than_the_better_input_on_dev(runs):
    qids, two, qrels = runs
    choice = tune_fusion(qids, two, qrels)
    assert set(choice.inputs) == {"bm25", "dense"}
    assert choice.ndcg >= max(choice.inputs.values()) - 1e-9
    assert choice.ndcg == pytest.approx(_ndcg(qids, fuse(two, choice.config), qrels))
    assert len(choice.table) == len(default_grid()) and choice.table["ndcg@10"].is_monotonic_decreasing
    assert choice.best_of("rrf").method == "rrf" and choice.best_of("weighted").method == "weighted"
    rec = choice.to_dict()
    assert FusionConfig.from_dict(rec["config"]) == choice.config
    assert max(rec["best_per_method_dev_ndcg@10"].values()) == pytest.approx(choice.ndcg)


def test_fusion_config_rejects_unknown_keys_and_methods():
    with pytest.raises(ValueError, match="unknown fusion key"):
        FusionConfig.from_dict({"method": "rrf", "k": 60})
    with pytest.raises(ValueError, match="fusion method must be one of"):
        FusionConfig.from_dict({"method": "combmnz"})


def test_score_systems_gives_paired_intervals_against_each_baseline(runs):
    from discovery_pipelines.quality.compare import SplitRuns, score_systems

    qids, two, qrels = runs
    sr = SplitRuns(qids, [""] * len(qids), qrels, dict(two))
    per_q, table = score_systems({"dev": sr}, rel_threshold=2.0, baselines=("bm25",), samples=300)
    row = table["dev"]["dense"]["vs_bm25"]
    a = per_q[per_q["system"] == "dense"]["ndcg@10"].to_numpy()
    b = per_q[per_q["system"] == "bm25"]["ndcg@10"].to_numpy()
    assert row["mean"] == pytest.approx(float((a - b).mean())) and row["low"] <= row["mean"] <= row["high"]
    assert "vs_bm25" not in table["dev"]["bm25"] and set(per_q["system"]) == {"bm25", "dense"}


def test_plan_steps_caps_at_the_budget():
    assert plan_steps(100, 2.0, 60)["steps"] == 30
    full = plan_steps(100, 0.1, 60)
    assert full["steps"] == 100 and "fits" in full["reason"]
    assert plan_steps(100, None, 60)["steps"] == 100
    with pytest.raises(ValueError, match="budget_seconds must be > 0"):
        plan_steps(100, 1.0, 0)


def test_choose_precision_keeps_the_faster_measured_one(monkeypatch):
    monkeypatch.delenv("DISCOVERY_PRECISION", raising=False)
    cpu = cpu_features()
    assert cpu["class"] in ("amx", "avx512_bf16", "avx512", "avx2", "other")
    timing = {"fp32": 2.0, "bf16": 1.0}
    out = choose_precision("auto", timing.__getitem__, "test")
    from discovery_pipelines.search.precision import resolve_precision

    if resolve_precision("auto") == "bf16":      # native bf16 here: both measured, the faster kept
        assert out["precision"] == "bf16" and set(out["probe"]) == {"fp32", "bf16"}
    else:                                        # emulated bf16: fp32 without probing bf16
        assert out["precision"] == "fp32" and set(out["probe"]) == {"fp32"}
    assert choose_precision("fp32", timing.__getitem__, "test")["precision"] == "fp32"
