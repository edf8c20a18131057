"""The cross-encoder teacher (examples, a few real training steps), re-ranking, and ``mode=rerank`` served
from an exported index (engine, CLI, HTTP), on the small real Home Depot catalogue."""

from __future__ import annotations

import json

import numpy as np
import pytest

from discovery_pipelines.finetune.teacher import TeacherConfig, teacher_examples, train_teacher
from discovery_pipelines.quality import compare as C
from discovery_pipelines.search.embeddings import product_texts
from discovery_pipelines.search.fusion import FusionConfig, fuse
from discovery_pipelines.search.rerank import interpolate, load_cross_encoder, order_by_logits, rerank_run, score_pairs
from discovery_pipelines.search.retrieval import BM25Retriever, run_to_dict

CFG = TeacherConfig(negatives_per_query=2, candidates=20, batch_size=8, max_steps=3, max_length=32,
                    precision="fp32", seed=3)


@pytest.fixture(scope="module")
def examples(hd_small):
    p, q, r = hd_small.products, hd_small.queries, hd_small.qrels
    train = q[q["split"] == "train"]
    bm25 = BM25Retriever(product_texts(p), p["product_id"].tolist())
    cands = run_to_dict(train["query_id"].tolist(), bm25.search(train["text"].tolist(), k=20))
    return teacher_examples(train, r, p, cands, CFG), cands


@pytest.fixture(scope="module")
def teacher(examples, minilm_path, tmp_path_factory):
    res = train_teacher(str(minilm_path), examples[0].head(24), tmp_path_factory.mktemp("teacher") / "ce", CFG)
    assert res.steps == 3 and res.planned_steps == 3 and res.precision == "fp32"
    return load_cross_encoder(res.model_dir, device="cpu")


def test_teacher_examples_are_train_only_with_graded_soft_labels(examples, hd_small):
    ex, cands = examples
    q, r = hd_small.queries, hd_small.qrels
    train_ids = set(q.loc[q["split"] == "train", "query_id"])
    assert set(ex["query_id"]) <= train_ids
    judged = ex[ex["source"] == "judged"]
    gains = r.set_index(["query_id", "product_id"])["gain"]
    expect = gains.loc[list(zip(judged["query_id"], judged["product_id"]))].to_numpy() / r["gain"].max()
    np.testing.assert_allclose(judged["label"].to_numpy(), expect, rtol=1e-6)
    neg = ex[ex["source"] == "negative"]
    assert (neg["label"] == 0).all() and len(neg) > 0
    judged_pairs = set(zip(r["query_id"], r["product_id"]))
    assert not any((a, b) in judged_pairs for a, b in zip(neg["query_id"], neg["product_id"]))
    assert all(b in cands[a][: CFG.candidates] for a, b in zip(neg["query_id"], neg["product_id"]))
    assert neg.groupby("query_id").size().max() <= CFG.negatives_per_query


def test_rerank_reorders_only_the_top_n_by_cross_encoder_logit(teacher, catalogue):
    products, queries, _ = catalogue
    texts = queries["text"].tolist()[:5]
    run = BM25Retriever(product_texts(products), products["product_id"].tolist()).search(texts, k=30)
    title = dict(zip(products["product_id"], product_texts(products)))
    ids, sc = rerank_run(teacher, texts, run, title, top_n=8, k=30, show_progress=False, precision="fp32")
    for qi, t in enumerate(texts):
        head = [p for p in run[0][qi, :8] if p is not None]
        logits = score_pairs(teacher, [t] * len(head), [title[p] for p in head], precision="fp32")
        assert list(ids[qi, : len(head)]) == [head[j] for j in np.argsort(-logits, kind="stable")]
        np.testing.assert_allclose(np.sort(sc[qi, : len(head)])[::-1], np.sort(logits)[::-1], rtol=1e-4, atol=1e-5)
        tail = [p for p in run[0][qi, 8:] if p is not None]
        assert list(ids[qi, len(head): len(head) + len(tail)]) == tail
        assert np.all(np.diff(sc[qi, : len(head) + len(tail)]) <= 1e-6)
    assert order_by_logits(["a", "b"], [0.1, 0.9], ["c"]) == [("b", 0.9), ("a", 0.1), ("c", pytest.approx(-0.9))]
    # interpolation with the first stage: min-max of each, weighted; 0 = the logits, 1 = the first stage
    lg, fs = np.array([2.0, 0.0, 1.0]), np.array([0.1, 0.9, 0.5])
    np.testing.assert_allclose(interpolate(lg, fs, 0.0), lg)
    np.testing.assert_allclose(interpolate(lg, fs, 0.5), 0.5 * np.array([1.0, 0.0, 0.5]) + 0.5 * np.array([0.0, 1.0, 0.5]))
    assert np.argsort(-interpolate(lg, fs, 1.0)).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="first_stage_weight"):
        interpolate(lg, fs, 1.5)


def test_agreement_and_serving_choice(teacher, catalogue, catalogue_emb, st_model):
    products, queries, qrels = catalogue
    q = queries.assign(split="dev")
    splits = C.first_stage_runs(products, q, qrels, {"base": st_model}, splits=("dev",), k=50, cache_dir=None)
    fusion = C.add_fusions(splits, "base", k=50)
    title = dict(zip(products["product_id"], product_texts(products)))
    agree = C.teacher_agreement(teacher, splits["dev"], title, rel_threshold=2.0,
                                candidates=splits["dev"].runs["hybrid:base"], top_n=5)
    assert agree["n_judged_pairs"] == len(qrels) and -1 <= agree["spearman_vs_gain"] <= 1
    assert 0 <= agree["roc_auc_judged_vs_unjudged_candidates"] <= 1
    _, rr = C.add_rerank(splits, "base", teacher, title, top_n=5, k=50, first_stage_weights=(0.5, 1.0))
    by_w = rr["dev_ndcg@10_by_weight"]
    assert set(by_w) == {"0.0", "0.5", "1.0"} and by_w[str(rr["first_stage_weight"])] == max(by_w.values())
    _, table = C.score_systems(splits, rel_threshold=2.0, baselines=("bm25",), samples=200)
    assert {"bm25", "dense:base", "hybrid:base", "hybrid_rrf60:base", "rerank:base"} <= set(table["dev"])
    assert table["dev"]["rerank:base"]["ndcg@10"] == pytest.approx(by_w[str(rr["first_stage_weight"])])
    # weight 1 keeps the hybrid's order: its nDCG is the hybrid's
    assert by_w["1.0"] == pytest.approx(table["dev"]["hybrid:base"]["ndcg@10"])
    if rr["first_stage_weight"] != 0.0:
        assert table["dev"]["rerank_ce:base"]["ndcg@10"] == pytest.approx(by_w["0.0"])
    assert table["dev"]["hybrid:base"]["ndcg@10"] == pytest.approx(fusion["dev_ndcg@10"])
    lat = C.mode_latency(products, q["text"].tolist()[:5], st_model, teacher, FusionConfig.from_dict(fusion["config"]),
                         top_n=5, candidates=50, cache_dir=None)
    assert set(lat) == {"bm25", "dense", "hybrid", "rerank"}
    assert lat["rerank"]["p50_ms"] >= lat["hybrid"]["p50_ms"] > 0
    dev = {"bm25": 0.30, "hybrid": 0.35, "rerank": 0.40}
    lat_ms = {"bm25": {"p95_ms": 5}, "hybrid": {"p95_ms": 20}, "rerank": {"p95_ms": 400}}
    assert C.choose_serving_mode(dev, lat_ms, 250)["default_mode"] == "hybrid"
    assert C.choose_serving_mode(dev, lat_ms, 500)["default_mode"] == "rerank"


@pytest.fixture(scope="module")
def rerank_index(tmp_path_factory, st_model, catalogue, catalogue_emb, teacher):
    from discovery_pipelines.search.index import export_index

    fusion = FusionConfig("weighted", {"bm25": 0.6, "dense": 0.4}).to_dict()
    return export_index(tmp_path_factory.mktemp("rr") / "idx", st_model, catalogue[0], catalogue_emb,
                        show_progress=False, fusion=fusion, reranker=teacher, rerank_top_n=10, default_mode="rerank")


def test_served_rerank_mode_engine_cli_http(rerank_index, minilm_path, teacher, st_model, catalogue, catalogue_emb,
                                           tmp_path):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from discovery_pipelines.search.index import load_index
    from discovery_pipelines.serve.api import create_app
    from discovery_pipelines.serve.cli import app
    from discovery_pipelines.serve.service import SearchService

    li = load_index(rerank_index)           # the reranker's files are checksummed with the index
    assert li.manifest["reranker"]["top_n"] == 10 and any(f.startswith("reranker/") for f in li.manifest["files"])
    svc = SearchService(rerank_index, minilm_path, device="cpu")
    eng = svc.engine
    assert eng.default_mode == "rerank" and eng.fusion.method == "weighted"
    hyb = eng.search("cordless drill battery", k=10, mode="hybrid")
    two = {n: (np.array([[h.product_id for h in eng.search("cordless drill battery", k=100, mode=n).hits]], dtype=object),
               np.array([[h.score for h in eng.search("cordless drill battery", k=100, mode=n).hits]], dtype=np.float32))
           for n in ("dense", "bm25")}
    assert [h.product_id for h in hyb.hits] == list(fuse(two, eng.fusion, k=10)[0][0])   # the manifest's fusion
    res = eng.search("cordless drill battery", k=10)                                     # default mode: rerank
    assert res.mode == "rerank" and {h.product_id for h in res.hits} == {h.product_id for h in hyb.hits}
    ce = [h.scores["cross_encoder"] for h in res.hits]
    assert ce == sorted(ce, reverse=True)
    direct = score_pairs(teacher, ["cordless drill battery"] * 10, [h.title for h in res.hits])
    np.testing.assert_allclose(ce, direct, rtol=1e-2, atol=1e-2)   # same pairs (bf16 autocast where native)

    r = CliRunner().invoke(app, ["search", "cordless drill", "-k", "3", "--mode", "rerank", "--rerank-top-n", "5",
                                 "--index", str(rerank_index), "--model", str(minilm_path), "--json"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    body = json.loads("\n".join(lines[next(i for i, ln in enumerate(lines) if ln.startswith("{")):]))
    assert body["mode"] == "rerank" and len(body["hits"]) == 3 and "cross_encoder" in body["hits"][0]["scores"]

    with TestClient(create_app(svc)) as c:
        got = c.get("/search", params={"q": "white paint", "k": 5, "mode": "rerank"})
        assert got.status_code == 200 and got.json()["mode"] == "rerank"
        assert c.get("/search", params={"q": "white paint"}).json()["mode"] == "rerank"
    from discovery_pipelines.search.index import export_index

    flat = export_index(tmp_path / "plain", st_model, catalogue[0], catalogue_emb, show_progress=False)
    plain = SearchService(flat, minilm_path, device="cpu").engine       # exported without a reranker
    assert plain.default_mode == "hybrid"
    fallback = plain.search("drill", mode="rerank")       # no cross-encoder: the hybrid ranking, said so
    assert fallback.mode == "hybrid" and [h.product_id for h in fallback.hits] == [
        h.product_id for h in plain.search("drill", mode="hybrid").hits]
    # a manifest weight interpolates the cross-encoder with the fused score; hits keep the raw logit
    mixed = export_index(tmp_path / "mixed", st_model, catalogue[0], catalogue_emb, show_progress=False,
                         fusion=FusionConfig("weighted", {"bm25": 0.6, "dense": 0.4}).to_dict(), reranker=teacher,
                         rerank_top_n=10, rerank_first_stage_weight=0.5, default_mode="rerank")
    me = SearchService(mixed, minilm_path, device="cpu").engine
    assert me.rerank_first_stage_weight == 0.5
    hyb = me.search("cordless drill battery", k=10, mode="hybrid").hits
    lg = score_pairs(teacher, ["cordless drill battery"] * len(hyb), [h.title for h in hyb])
    want = [hyb[j].product_id for j in np.argsort(-interpolate(lg, [h.score for h in hyb], 0.5), kind="stable")]
    got = me.search("cordless drill battery", k=10, mode="rerank").hits
    assert [h.product_id for h in got] == want
    np.testing.assert_allclose([h.scores["cross_encoder"] for h in got],
                               [lg[[x.product_id for x in hyb].index(h.product_id)] for h in got], rtol=1e-2, atol=1e-2)


def test_trainer_plans_steps_from_a_throughput_probe(hd_small, minilm_path):
    from discovery_pipelines.finetune.data import assemble_pairs
    from discovery_pipelines.finetune.trainer import TrainConfig, plan_budget

    pairs, _ = assemble_pairs(hd_small.products, hd_small.queries, hd_small.qrels, None, None,
                              qrels_min_gain=2.0, max_pairs=400, seed=13)
    cfg = TrainConfig(batch_size=8, num_negatives=0, max_seq_length=32, budget_seconds=1e-3, eval_steps=10,
                      early_stopping_patience=None)
    planned, plan = plan_budget(str(minilm_path), pairs, cfg, probe_steps=1)
    assert plan["full_steps"] == -(-len(pairs) // 8) and plan["steps"] == 1 and planned.max_steps == 1
    assert planned.precision == plan["precision"]["precision"] in ("fp32", "bf16")
    assert plan["precision"]["cpu"]["class"] in ("amx", "avx512_bf16", "avx512", "avx2", "other")
    roomy, plan2 = plan_budget(str(minilm_path), pairs, TrainConfig(**{**cfg.__dict__, "budget_seconds": 1e6}),
                               probe_steps=1)
    assert roomy.max_steps == -1 and plan2["steps"] == plan2["full_steps"]


def test_label_expansion_scores_unjudged_candidates(teacher, examples, hd_small):
    from discovery_pipelines.finetune.teacher import expand_labels

    _, cands = examples
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    train = q[q["split"] == "train"].head(10)
    judged = set(zip(r["query_id"], r["product_id"]))
    doc_text = dict(zip(p["product_id"], product_texts(p)))
    lab = expand_labels(teacher, dict(zip(train["query_id"], train["text"])), cands, doc_text, exclude=judged,
                        top_k=5, positive_prob=0.6, negative_prob=0.4, precision="fp32")
    assert len(lab) > 0 and not any(pair in judged for pair in zip(lab["query_id"], lab["product_id"]))
    assert (lab["rank"] <= 5).all() and set(lab["query_id"]) <= set(train["query_id"])
    pos, neg = lab["teacher_prob"] >= 0.6, lab["teacher_prob"] <= 0.4
    assert (lab.loc[pos, "teacher_label"] == "teacher_positive").all()
    assert (lab.loc[neg, "teacher_label"] == "teacher_negative").all()
    assert (lab.loc[~pos & ~neg, "teacher_label"] == "uncertain").all()
    np.testing.assert_allclose(lab["teacher_prob"], 1 / (1 + np.exp(-lab["teacher_logit"])), rtol=1e-5)
