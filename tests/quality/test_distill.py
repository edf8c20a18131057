"""Label expansion by the ensemble teacher and the distilled student, on the small real Home Depot slice:
hybrid candidates, ensemble scores, the student's rows, a few real distillation steps, the gate's choice
between today's candidate and the student, and the model the quality stage tunes and reports for (the
production checkpoint when the gate failed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

from discovery_pipelines.data.splits import judged_and_sampled
from discovery_pipelines.finetune.distill import budgeted_expansion, ensemble_scores, hybrid_candidates, student_examples
from discovery_pipelines.finetune.gate import choose_contender, regression_gate
from discovery_pipelines.search.embeddings import product_texts
from discovery_pipelines.search.evaluation import dense_run
from discovery_pipelines.search.retrieval import BM25Retriever


@pytest.fixture(scope="module")
def train_runs(hd_small, minilm_path):
    q, r = hd_small.queries, hd_small.qrels
    train = q[(q["split"] == "train") & q["query_id"].isin(set(r["query_id"]))].head(25)
    # the 25 queries' judged products and 300 others: a catalogue a few seconds encode
    p = judged_and_sampled(hd_small.products, r.loc[r["query_id"].isin(set(train["query_id"])), "product_id"], 300)
    bm25 = BM25Retriever(product_texts(p), p["product_id"].tolist()).search(train["text"].tolist(), k=20)
    dense = dense_run(str(minilm_path), p, train, k=20, cache_dir=None, show_progress=False)
    return train, bm25, dense


def test_hybrid_candidates_are_the_weighted_fusion_of_both_runs(train_runs):
    train, bm25, dense = train_runs
    qids = train["query_id"].tolist()
    both = hybrid_candidates(qids, bm25, dense, alpha=0.5, top_k=10)
    lexical = hybrid_candidates(qids, bm25, dense, alpha=0.0, top_k=10)
    for i, q in enumerate(qids):
        ids = [p for p, _ in both[q]]
        scores = np.array([s for _, s in both[q]])
        assert len(ids) == len(set(ids)) <= 10
        assert (np.diff(scores) <= 1e-9).all() and (scores >= 0).all() and (scores <= 1 + 1e-9).all()
        assert set(ids) <= {p for p in bm25[0][i] if p is not None} | {p for p in dense[0][i] if p is not None}
        # alpha 0 is BM25 alone: its order is BM25's (ties aside) with the top product scoring 1
        bm = [p for p in bm25[0][i] if p is not None][:10]
        if bm:
            assert lexical[q][0][1] == pytest.approx(1.0)
            assert {p for p, s in lexical[q] if s > 0} <= set(bm25[0][i])   # dense-only products score 0
    with pytest.raises(ValueError):
        hybrid_candidates(qids, bm25, dense, alpha=1.5, top_k=10)


def test_ensemble_takes_the_human_label_where_judged_and_mixes_the_hybrid():
    logits = np.array([0.0, 2.0, -3.0])
    hybrid = np.array([1.0, 0.0, 0.5])
    human = np.array([np.nan, 1.0 / 3.0, np.nan])
    s = ensemble_scores(logits, hybrid, human, ce_weight=0.5)
    expect = 0.5 * np.array([0.5, 1.0 / 3.0, 1 / (1 + np.exp(3.0))]) + 0.5 * hybrid
    np.testing.assert_allclose(s, expect, rtol=1e-6)
    np.testing.assert_allclose(ensemble_scores(logits, hybrid, human, ce_weight=0.0), hybrid, rtol=1e-6)
    with pytest.raises(ValueError):
        ensemble_scores(logits, hybrid[:2], human, ce_weight=0.5)
    with pytest.raises(ValueError):
        ensemble_scores(logits, hybrid, human, ce_weight=1.5)


def _cosine_teacher(dense, qids):
    """A stand-in teacher for the ensemble / budget / rows tests: the dense cosine x 10 as the logit (the
    cross-encoder itself is trained and measured in test_quality_slice)."""
    cos = {(q, p): float(s) for i, q in enumerate(qids) for p, s in zip(dense[0][i], dense[1][i]) if p is not None}

    def score(text, cands):
        rows = [(q, t, p, r + 1, 10 * cos.get((q, p), 0.0)) for q, t in text.items() for r, p in enumerate(cands[q])]
        df = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "rank", "teacher_logit"])
        df["teacher_prob"] = 1.0 / (1.0 + np.exp(-df["teacher_logit"]))
        df["teacher_label"] = np.where(df["teacher_prob"] >= 0.6, "teacher_positive",
                                       np.where(df["teacher_prob"] <= 0.1, "teacher_negative", "uncertain"))
        return df
    return score


@pytest.fixture(scope="module")
def expansion(train_runs, hd_small):
    """Label expansion as the node runs it (:func:`budgeted_expansion`) over the 25 queries' hybrid top 12."""
    train, bm25, dense = train_runs
    qids = train["query_id"].tolist()
    hyb = hybrid_candidates(qids, bm25, dense, alpha=0.5, top_k=12)
    q = train.assign(source="train")[["query_id", "text", "source"]].reset_index(drop=True)
    return q, hyb, _cosine_teacher(dense, qids)


@pytest.fixture(scope="module")
def labels(expansion, hd_small):
    q, hyb, score = expansion
    return budgeted_expansion(q, hyb, hd_small.qrels, score, ce_weight=0.5, probe_queries=5, budget_seconds=None)[0]


def test_budgeted_expansion_scores_judged_and_hybrid_pairs_within_its_budget(expansion, labels, hd_small):
    q, hyb, score = expansion
    r = hd_small.qrels[hd_small.qrels["query_id"].isin(set(q["query_id"]))]
    got = {(a, b): h for a, b, h in zip(labels["query_id"], labels["product_id"], labels["human_label"])}
    # every judged pair of the scored queries is in, with its soft label gain / max gain
    for a, b, g in zip(r["query_id"], r["product_id"], r["gain"]):
        assert got[(a, b)] == pytest.approx(g / hd_small.qrels["gain"].max())
    assert all((a, p) in got for a, lst in hyb.items() for p, _ in lst)
    un = labels[labels["human_label"].isna()]
    expect = 0.5 / (1 + np.exp(-un["teacher_logit"])) + 0.5 * un["hybrid_score"]
    np.testing.assert_allclose(un["teacher_score"], expect, rtol=1e-5)
    # a budget shorter than the probe: only the probe queries are scored, and the stats say so
    few, stats = budgeted_expansion(q, hyb, hd_small.qrels, score, ce_weight=0.5, probe_queries=5,
                                    budget_seconds=1e-9)
    assert few["query_id"].nunique() == 5 and stats["queries"] == {"train": 5}
    assert stats["budget"]["reason"].startswith("capped") and stats["scored_pairs"] == len(few)
    assert stats["teacher_pairs_per_human_label"] == pytest.approx(
        stats["unjudged_pairs"] / stats["human_labels_of_sampled_train_queries"])


def test_student_rows_rank_the_positive_above_sampled_lower_scored_negatives(labels, hd_small):
    doc_text = dict(zip(hd_small.products["product_id"], product_texts(hd_small.products)))
    ex = student_examples(labels, doc_text, negatives=3, positives_per_query=2, min_positive_label=0.66, seed=5)
    assert len(ex) > 0 and set(ex["query_id"]) <= set(labels["query_id"])
    score = {(q, p): s for q, p, s in zip(labels["query_id"], labels["product_id"], labels["teacher_score"])}
    hum = {(q, p): h for q, p, h in zip(labels["query_id"], labels["product_id"], labels["human_label"])}
    for _, row in ex.iterrows():
        negs = [row[f"negative_id_{j}"] for j in (1, 2, 3)]
        assert len(set(negs)) == 3 and row["product_id"] not in negs
        assert row["teacher_scores"][0] == pytest.approx(score[(row["query_id"], row["product_id"])])
        assert list(row["teacher_scores"][1:]) == pytest.approx([score[(row["query_id"], n)] for n in negs])
        assert all(row["teacher_scores"][0] > s for s in row["teacher_scores"][1:])
        assert row["positive"] == doc_text[row["product_id"]] and row["negative_2"] == doc_text[negs[1]]
        if row["source"] == "judged":
            assert hum[(row["query_id"], row["product_id"])] >= 0.66
    assert ex.groupby("query_id").size().max() <= 2
    again = student_examples(labels, doc_text, negatives=3, positives_per_query=2, min_positive_label=0.66, seed=5)
    pd.testing.assert_frame_equal(ex, again)


def test_distillation_steps_move_the_student_towards_the_teacher(labels, hd_small, minilm_path, tmp_path):
    from discovery_pipelines.finetune.trainer import TrainConfig, train
    from discovery_pipelines.search.models import load_model

    doc_text = dict(zip(hd_small.products["product_id"], product_texts(hd_small.products)))
    ex = student_examples(labels, doc_text, negatives=2, positives_per_query=2, min_positive_label=0.66, seed=5)
    cfg = TrainConfig(loss="distill_kl", batch_size=8, num_negatives=2, max_steps=6, learning_rate=5e-5,
                      batch_sampler="batch_sampler", max_seq_length=32, early_stopping_patience=None,
                      precision="fp32", logging_steps=1, teacher_temperature=0.1)
    res = train(str(minilm_path), ex, tmp_path / "student", cfg, resume=False)
    assert res.selected_step == 6 and res.summary(cfg)["config"]["loss"] == "distill_kl"
    base, student = load_model(str(minilm_path)), load_model(res.model_dir)

    def kl(model) -> float:   # KL(teacher || student) over each row's (positive, negatives), as the loss
        q = model.encode(ex["query"].tolist(), normalize_embeddings=True)
        docs = [model.encode(ex[c].tolist(), normalize_embeddings=True) for c in ("positive", "negative_1", "negative_2")]
        ls = log_softmax(np.stack([(q * d).sum(1) for d in docs], 1) * cfg.scale, axis=1)
        lt = log_softmax(np.array(ex["teacher_scores"].tolist()) / cfg.teacher_temperature, axis=1)
        return float((np.exp(lt) * (lt - ls)).sum(1).mean())

    assert kl(student) < kl(base)
    margin = TrainConfig(**{**cfg.model_dump(), "loss": "margin_mse"})
    assert train(str(minilm_path), ex, tmp_path / "mse", margin, resume=False).selected_step == 6


def _per_query(ndcg: list[float], split: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"query_id": [f"q{i}" for i in range(len(ndcg))], "text": "x", "split": split,
                         "ndcg@10": ndcg, "verdict": ["Good" if v >= 0.5 else "Not Good" for v in ndcg]})


def test_gate_promotes_the_better_passing_contender_on_dev():
    split = ["dev", "dev", "holdout", "holdout"]
    prod = _per_query([0.2, 0.3, 0.6, 0.7], split)
    cand = _per_query([0.3, 0.4, 0.6, 0.7], split)
    better_but_flips = _per_query([0.5, 0.6, 0.1, 0.7], split)
    student = _per_query([0.4, 0.4, 0.65, 0.7], split)
    rules = dict(min_dev_gain=0.02, max_flips=0, max_ndcg_loss=0.005)
    d = choose_contender({"candidate": regression_gate(prod, cand, **rules),
                          "student": regression_gate(prod, student, **rules)})
    assert d["chosen"] == "student" and d["passed"] and d["dev"]["candidate"] == pytest.approx(0.4)
    assert set(d["contenders"]) == {"candidate", "student"}
    d = choose_contender({"candidate": regression_gate(prod, cand, **rules),
                          "student": regression_gate(prod, better_but_flips, **rules)})
    assert d["chosen"] == "candidate" and not d["contenders"]["student"]["passed"]
    d = choose_contender({"candidate": regression_gate(prod, prod, **rules),
                          "student": regression_gate(prod, better_but_flips, **rules)})
    assert d["chosen"] is None and not d["passed"] and d["dev"]["candidate"] == pytest.approx(0.25)


def _quality_metrics(promoted: str) -> dict:
    rows = {"bm25": {"ndcg@10": 0.30, "recall@100": 0.70},
            f"dense:{promoted}": {"ndcg@10": 0.35, "recall@100": 0.80,
                                  "vs_bm25": {"mean": 0.05, "low": 0.01, "high": 0.09}}}
    return {"promoted": promoted, "by_split": {"dev": rows}, "fusion": {}, "rerank": None,
            "teacher_agreement_dev": {"spearman_vs_gain": 0.4, "roc_auc_relevant_vs_not": 0.7},
            "latency_ms": {"bm25": {"p50_ms": 1.0, "p95_ms": 2.0, "n": 5}},
            "serving": {"default_mode": "dense", "latency_budget_p95_ms": 100.0, "rejected_for_latency": []}}


def test_the_quality_stage_serves_the_production_checkpoint_when_the_gate_failed():
    """What the quality stage tunes and reports for: the promoted contender, or ``base`` (the production
    checkpoint that ``promote`` releases where no release exists) when the gate failed."""
    import matplotlib.pyplot as plt

    from discovery_pipelines.pipelines.quality.nodes import report, served_model

    assert served_model({"passed": True, "chosen": "student"}) == "student"
    assert served_model({"passed": True, "chosen": None}) == "candidate"
    assert served_model({"passed": False, "chosen": None}) == "base"
    assert served_model(None) == "candidate"   # no gate decision (the stage alone): today's recipe
    args = ({"steps": 3, "examples_per_second": 10.0, "precision": "fp32", "budget": None},
            {"by_source": {"judged": 4}, "train_queries": 2},
            {"ensemble": "ce", "scored_pairs": 4, "queries": 2, "teacher_pairs_per_second": 8.0,
             "teacher_pairs_per_human_label": 1.0, "teacher_positives_per_human_label": 0.5,
             "teacher_confirmed_negatives": 1, "seconds": {}})
    contenders = {"candidate": {"passed": False, "dev_ndcg@10": 0.31}}
    md, fig = report(_quality_metrics("base"), *args, {"passed": False, "contenders": contenders})
    plt.close(fig)
    assert md.splitlines()[2].startswith(
        "Served model = `base` (gate failed: the production checkpoint serves where no release exists).")
    md, fig = report(_quality_metrics("candidate"), *args, {"passed": True, "contenders": contenders})
    plt.close(fig)
    assert md.splitlines()[2].startswith("Served model = `candidate` (gate passed).")


def test_compare_modes_tunes_fusion_rerank_and_latency_for_the_served_model(tmp_path):
    """A failed gate: fusion, re-ranking, latency and the serving choice are those of ``base`` (the production
    checkpoint, given by name as in ``finetune.models``); a passed one: the chosen contender's, no ``base``
    fusion. A toy catalogue of 16 titles; the cross-encoder is MiniLM with a fresh head (untrained)."""
    import yaml
    from sentence_transformers import CrossEncoder

    from discovery_pipelines.pipelines.quality.nodes import compare_modes
    from discovery_pipelines.search.ltr import load_ranker
    from discovery_pipelines.search.models import load_model, resolve_model_path

    titles = ["cordless drill 20v", "led light bulb 60w", "interior paint white", "kitchen faucet chrome",
              "circular saw blade", "toilet seat elongated", "garden hose 50 ft", "door hinge brass",
              "hammer drill bit set", "outdoor flood light", "exterior paint gray", "bathroom faucet nickel",
              "miter saw stand", "toilet flapper", "hose nozzle", "cabinet hinge"]
    products = pd.DataFrame({"product_id": [str(100 + i) for i in range(len(titles))], "title": titles})
    texts = ["drill", "light bulb", "paint", "faucet", "saw", "toilet", "hose", "hinge"]
    train = ["drill bit", "flood light", "gray paint", "nickel faucet", "saw blade", "toilet seat", "garden hose",
             "brass hinge"]
    queries = pd.DataFrame({"query_id": [f"q{i}" for i in range(16)], "text": texts + train,
                            "split": ["dev", "holdout"] * 4 + ["train"] * 8})
    qrels = pd.DataFrame([{"query_id": f"q{i}", "product_id": str(100 + j), "gain": 3.0}
                          for i in range(8) for j in (i, i + 8)]
                         + [{"query_id": f"q{8 + i}", "product_id": str(100 + i + 8 * (i % 2)), "gain": 2.0}
                            for i in range(8)])
    with open(Path(__file__).resolve().parents[2] / "conf" / "base" / "parameters_quality.yml") as f:
        params = yaml.safe_load(f)["quality"]
    params.update(cache_dir=str(tmp_path), bootstrap_samples=100, k=10)
    params["serving"]["latency_queries"] = 5
    params["rerank"]["top_n"] = 5
    params["ltr"].update(depth=5, n_estimators=5, min_child_samples=1)
    minilm = load_model("all-MiniLM-L6-v2", device="cpu")
    ce = CrossEncoder(str(resolve_model_path("all-MiniLM-L6-v2")), num_labels=1, device="cpu")
    model_params = {"production": "all-MiniLM-L6-v2"}

    failed = {"passed": False, "chosen": None, "contenders": {"candidate": {"passed": False, "dev_ndcg@10": 0.3}}}
    _, metrics, choice, ranker = compare_modes(products, queries, qrels, minilm, minilm, ce, params, model_params,
                                               None, failed)
    assert metrics["promoted"] == choice["model"] == "base"
    assert set(metrics["fusion"]) == {"candidate", "base"}
    assert choice["fusion"] == metrics["fusion"]["base"]["config"]
    for split in ("dev", "holdout"):
        assert {"dense:base", "hybrid:base", "rerank:base", "ltr:base", "hybrid:candidate"} <= set(metrics["by_split"][split])
    assert set(metrics["latency_ms"]) == {"bm25", "dense", "hybrid", "rerank", "ltr"}
    assert metrics["ltr"]["train_queries"] == 8 and choice["ltr_depth"] == 5 and "ltr" in choice["dev_ndcg@10"]
    assert load_ranker(ranker).num_trees() >= 1

    passed = {"passed": True, "chosen": "candidate", "contenders": {}}
    _, metrics, choice, _ = compare_modes(products, queries, qrels, minilm, minilm, ce, params, model_params, None,
                                          passed)
    assert metrics["promoted"] == choice["model"] == "candidate"
    assert set(metrics["fusion"]) == {"candidate"}
    assert "rerank:candidate" in metrics["by_split"]["dev"] and "hybrid:base" not in metrics["by_split"]["dev"]
