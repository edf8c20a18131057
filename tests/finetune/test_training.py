"""Training data assembly, cosine-band hard negatives, the regression gate and a short real fine-tune."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.data.text import normalize_query
from discovery_pipelines.finetune.data import assemble_pairs, known_positives
from discovery_pipelines.finetune.gate import regression_gate
from discovery_pipelines.finetune.negatives import judged_negatives, mine_band_negatives


def test_pairs_provenance_dedup_no_leakage(hd_small):
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    dev_text = q[q["split"] == "dev"]["text"].iloc[0]
    # a train query with a qrel above the threshold, so the same pair from the logs must lose to it
    good = r[r["query_id"].isin(set(q[q["split"] == "train"]["query_id"])) & (r["gain"] >= 2.5)].iloc[0]
    train_q = q[q["query_id"] == good["query_id"]].iloc[0]
    pid = good["product_id"]
    mined = pd.DataFrame({"query": [dev_text.upper(), train_q["text"], "brand new log query"],
                          "product_id": [pid, pid, pid]})
    synth = pd.DataFrame({"query": ["whiite shrt", "x"], "product_id": [pid, "no-such-product"],
                          "group": ["misspelling", "color"], "accepted": [True, True]})
    pairs, stats = assemble_pairs(p, q, r, mined, synth, qrels_min_gain=2.5)
    held = {normalize_query(t) for t, s in zip(q["text"], q["split"]) if s != "train"}
    assert not set(pairs["query_norm"]) & held
    assert stats["dropped_leakage"].get("log") == 1
    assert stats["dropped_unknown_product"].get("synthetic") == 1
    assert not pairs.duplicated(["query_norm", "product_id"]).any()
    # the (train query, pid) pair exists in qrels and logs: qrels wins the de-duplication
    row = pairs[(pairs["query_norm"] == normalize_query(train_q["text"])) & (pairs["product_id"] == pid)]
    assert row["source"].tolist() == ["qrels"]
    assert {"log", "synthetic"} <= set(pairs["source"])
    assert pairs["positive"].notna().all()


def test_band_negatives_respect_band_and_exclusions(hd_small, minilm_path, tmp_path):
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    pairs, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.5, max_pairs=80)
    exclude = known_positives(r, q, pairs, 2.0)
    out, stats = mine_band_negatives(str(minilm_path), pairs, p, exclude, min_score=0.3, max_score=0.7,
                                     num_negatives=2, cache_dir=tmp_path)
    assert stats["anchors"] == 80 and stats["coverage"] > 0.5
    assert 0.3 <= stats["negative_score_quantiles"]["0.1"] and stats["negative_score_quantiles"]["0.9"] <= 0.7
    for qn, n1, n2 in zip(out["query_norm"], out["negative_id_1"], out["negative_id_2"]):
        for n in (n1, n2):
            assert n is None or n not in exclude.get(qn, set())
    pref = judged_negatives(r, q, 1.67)
    out2, stats2 = mine_band_negatives(str(minilm_path), pairs, p, exclude, num_negatives=1, cache_dir=tmp_path,
                                       preferred=pref)
    judged_used = [n in pref.get(qn, []) for qn, n in zip(out2["query_norm"], out2["negative_id_1"])]
    assert sum(judged_used) == stats2["preferred_negatives_used"] > 0


def test_round_robin_sampling_covers_more_queries(hd_small):
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    budget = 60
    rnd, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.0, caps={"qrels": budget})
    rr, stats = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.0, caps={"qrels": budget},
                               qrels_sampling="round_robin")
    assert len(rnd) == len(rr) == budget == stats["n_pairs"]
    train_q = q[q["split"] == "train"]
    eligible = r[(r["gain"] >= 2.0) & r["query_id"].isin(set(train_q["query_id"]))]
    n_eligible_queries = eligible["query_id"].nunique()
    # round robin repeats no query before every eligible query has one pair
    assert rr["query_norm"].nunique() == min(budget, n_eligible_queries)
    assert rr["query_norm"].nunique() >= rnd["query_norm"].nunique()
    # ... and each query's first pair is its best-judged product
    text_of = dict(zip(train_q["query_id"], train_q["text"].map(normalize_query)))
    best = eligible.assign(qn=eligible["query_id"].map(text_of)).groupby("qn")["gain"].max()
    gain_of = {(text_of[a], b): g for a, b, g in zip(eligible["query_id"], eligible["product_id"], eligible["gain"])}
    got = rr.groupby("query_norm").apply(lambda g: max(gain_of[(g.name, pid)] for pid in g["product_id"]))
    assert (got == best[got.index]).all()
    with pytest.raises(ValueError, match="qrels_sampling"):
        assemble_pairs(p, q, r, None, None, qrels_sampling="popular")


def test_positive_aware_ceiling(hd_small, minilm_path, tmp_path):
    from discovery_pipelines.search.embeddings import encode
    from discovery_pipelines.search.models import load_model
    from discovery_pipelines.search.precision import resolve_precision

    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    pairs, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.5, max_pairs=80)
    exclude = known_positives(r, q, pairs, 2.0)
    out, stats = mine_band_negatives(str(minilm_path), pairs, p, exclude, min_score=0.2, max_score=0.9,
                                     num_negatives=1, cache_dir=tmp_path, max_relative=0.9)
    assert stats["max_relative"] == 0.9 and stats["anchors_with_all_negatives"] > 0
    st = load_model(str(minilm_path))
    title = dict(zip(p["product_id"], p["title"]))
    has = out["negative_id_1"].notna()

    def emb(texts):   # scores at the precision the miner used (bf16 autocast where native)
        return encode(st, texts, cache_dir=None, show_progress=False)

    qe = emb(out.loc[has, "query"].tolist())
    pe = emb(out.loc[has, "positive"].tolist())
    ne = emb([title[i] for i in out.loc[has, "negative_id_1"]])
    pos, neg = (qe * pe).sum(1), (qe * ne).sum(1)
    tol = 1e-4 if resolve_precision() == "fp32" else 3e-3   # bf16 scores move with the batch's padding
    assert (neg <= 0.9 * pos + tol).all()          # never closer than 90 % of the positive's score
    assert (neg >= 0.2 - tol).all() and (neg <= 0.9 + tol).all()
    # random fill: every anchor keeps a negative, never one of its known positives
    filled, fstats = mine_band_negatives(str(minilm_path), pairs, p, exclude, min_score=0.2, max_score=0.9,
                                         num_negatives=1, cache_dir=tmp_path, max_relative=0.9, fill_random=True)
    assert fstats["coverage"] == 1.0
    assert fstats["random_fill"] == stats["anchors"] - stats["anchors_with_all_negatives"] > 0
    assert all(n not in exclude.get(qn, set()) for qn, n in zip(filled["query_norm"], filled["negative_id_1"]))


def test_wise_ft_interpolation(minilm_path):
    import torch

    from discovery_pipelines.search.models import load_model
    from discovery_pipelines.finetune.interpolate import interpolate_weights

    base = load_model(str(minilm_path))
    tuned = interpolate_weights(base, base, 1.0)
    with torch.no_grad():
        for prm in tuned.parameters():
            prm.add_(0.01)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    half = interpolate_weights(base, tuned, 0.5)
    key = next(k for k in base.state_dict() if k.endswith("layer.0.attention.self.query.weight"))
    sb, st, sh = base.state_dict(), tuned.state_dict(), half.state_dict()
    assert torch.allclose(sh[key], (sb[key] + st[key]) / 2, atol=1e-6)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())   # inputs untouched
    assert torch.equal(interpolate_weights(base, tuned, 0.0).state_dict()[key], sb[key])
    assert half.max_seq_length == base.max_seq_length
    with pytest.raises(ValueError, match="alpha"):
        interpolate_weights(base, tuned, 1.5)


def test_train_config_rejects_unknown_keys():
    from discovery_pipelines.data.params import ParameterError, validate
    from discovery_pipelines.finetune.trainer import TrainConfig

    assert validate(TrainConfig, {"learning_rate": 1e-4}, "finetune.candidate.train").learning_rate == 1e-4
    with pytest.raises(ParameterError, match=r"finetune\.candidate\.train\.learning_rat: Extra inputs"):
        validate(TrainConfig, {"learning_rat": 1e-4}, "finetune.candidate.train")


def _per_query(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    rows = [{"split": s, "query_id": q, "text": q, "ndcg@10": v, "verdict": "Good" if v >= 0.5 else "Not Good"}
            for (s, q), v in values.items()]
    return pd.DataFrame(rows)


def test_gate_decisions():
    prod = _per_query({("dev", "a"): 0.2, ("dev", "b"): 0.4, ("holdout", "c"): 0.9, ("holdout", "d"): 0.6,
                       ("holdout", "e"): 0.1})
    better = _per_query({("dev", "a"): 0.5, ("dev", "b"): 0.5, ("holdout", "c"): 0.9, ("holdout", "d"): 0.61,
                         ("holdout", "e"): 0.0})
    g = regression_gate(prod, better, min_dev_gain=0.02, max_flips=0, max_ndcg_loss=0.005)
    assert g["passed"] and g["regression_holdout"]["n_queries"] == 2
    flip = better.copy()
    flip.loc[(flip["query_id"] == "d"), ["ndcg@10", "verdict"]] = [0.45, "Not Good"]
    g2 = regression_gate(prod, flip, min_dev_gain=0.02, max_flips=0, max_ndcg_loss=0.5)
    assert not g2["passed"] and g2["flips"][0]["query_id"] == "d"
    assert not g2["checks"]["good_to_not_good_flips"]["passed"]
    with pytest.raises(ValueError, match="different queries"):
        regression_gate(prod, better.iloc[:-1])


@pytest.mark.slow
def test_short_finetune_and_resume(hd_small, minilm_path, tmp_path):
    import torch

    from discovery_pipelines.search.models import load_model
    from discovery_pipelines.finetune.trainer import TrainConfig, train

    torch.set_num_threads(2)
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    pairs, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.5, max_pairs=96)
    cfg = TrainConfig(batch_size=16, max_steps=4, eval_steps=2, learning_rate=5e-5, max_seq_length=32,
                      early_stopping_patience=None, logging_steps=1)
    res = train(str(minilm_path), pairs, tmp_path / "run", cfg)
    assert (res.model_dir / "modules.json").exists()
    assert any("loss" in h for h in res.history) and res.examples == 64
    base, tuned = load_model(str(minilm_path)), load_model(res.model_dir)
    a = base.encode(["cordless drill"], normalize_embeddings=True)
    b = tuned.encode(["cordless drill"], normalize_embeddings=True)
    assert not np.allclose(a, b) and float((a @ b.T).item()) > 0.9   # moved, but not destroyed (low LR)
    assert tuned.max_seq_length == base.max_seq_length   # training truncation does not shorten inference
    # a checkpoint exists at step 4; a new call resumes from it instead of starting over
    res2 = train(str(minilm_path), pairs, tmp_path / "run", cfg)
    assert res2.resumed_from is not None and res2.resumed_from.endswith("checkpoint-4")
    # the resumed job still reports the time and throughput of every step, not only of those after the
    # resume (with max_steps, transformers' trainer takes one more step when resumed at the last one)
    ledger = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-4" / "elapsed.json").read_text())
    assert ledger["step"] == 4 and 0 < ledger["seconds"] <= res.train_seconds
    assert res2.examples >= 64 and res2.train_seconds >= ledger["seconds"]
    assert res2.examples_per_second <= res2.examples / ledger["seconds"]
    # another job (a changed learning rate) in the same folder never resumes the old checkpoints
    cfg3 = cfg.model_copy(update={"learning_rate": 1e-5})
    res3 = train(str(minilm_path), pairs, tmp_path / "run", cfg3)
    assert res3.resumed_from is None and any("loss" in h for h in res3.history)


@pytest.mark.slow
def test_loss_variants_widen_the_softmax(hd_small, minilm_path, tmp_path):
    """GTE's improved contrastive loss and hardness weighting add candidates / weight to the softmax
    denominator, so on the same first batch (same seed) their initial loss is strictly above plain MNRL's."""
    import torch

    from discovery_pipelines.finetune.trainer import TrainConfig, train

    torch.set_num_threads(2)
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    pairs, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.5, max_pairs=64)
    pairs["negative_1"] = p["title"].sample(n=len(pairs), random_state=0).to_numpy()
    first_loss = {}
    variants = {
        "plain": {},
        "gte": {"directions": ["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]},
        "hard": {"hardness_mode": "all_negatives", "hardness_strength": 5.0},
    }
    for name, extra in variants.items():
        cfg = TrainConfig.model_validate({"batch_size": 16, "max_steps": 1, "num_negatives": 1, "learning_rate": 1e-5,
                                         "max_seq_length": 32, "early_stopping_patience": None, "logging_steps": 1,
                                         "batch_sampler": "batch_sampler", **extra})
        res = train(str(minilm_path), pairs, tmp_path / name, cfg, resume=False)
        first_loss[name] = next(h["loss"] for h in res.history if "loss" in h)
    assert TrainConfig.model_validate(variants["gte"]).directions == tuple(variants["gte"]["directions"])
    assert first_loss["gte"] > first_loss["plain"] + 0.1
    assert first_loss["hard"] > first_loss["plain"] + 0.01
    with pytest.raises(ValueError, match=r"direction(?!s)"):   # the error names the misspelt key
        TrainConfig.model_validate({"direction": ["query_to_doc"]})


@pytest.mark.slow
def test_checkpoint_selection_keeps_last_unless_best_clearly_wins(hd_small, minilm_path, tmp_path):
    """With an evaluator, the saved model is the last step's unless an earlier checkpoint beat it by
    ``best_min_delta``: a huge delta always keeps the last step, a negative one always the best."""
    import torch

    from discovery_pipelines.search.models import load_model
    from discovery_pipelines.finetune.trainer import TrainConfig, build_ir_evaluator, train

    torch.set_num_threads(2)
    q, r, p = hd_small.queries, hd_small.qrels, hd_small.products
    pairs, _ = assemble_pairs(p, q, r, None, None, qrels_min_gain=2.5, max_pairs=64)
    dev = q[q["split"] == "dev"]
    ev = build_ir_evaluator(p, dev, r[r["query_id"].isin(set(dev["query_id"]))], rel_threshold=2.5,
                            n_queries=30, n_distractors=200, seed=0)
    runs = {}
    for name, delta in (("last", 10.0), ("best", -10.0)):
        cfg = TrainConfig(batch_size=16, max_steps=4, eval_steps=2, learning_rate=2e-4, max_seq_length=32,
                          early_stopping_patience=None, logging_steps=1, best_min_delta=delta, seed=3)
        runs[name] = train(str(minilm_path), pairs, tmp_path / name, cfg, evaluator=ev, resume=False)
    last, best = runs["last"], runs["best"]
    evals = [h for h in last.history if "eval_dev_cosine_ndcg@10" in h]
    assert [h["step"] for h in evals] == [2, 4]
    assert last.selected_step == 4 and last.selection.startswith(("last", "best = last"))
    scores = {h["step"]: h["eval_dev_cosine_ndcg@10"] for h in evals}
    assert best.selected_step == max(scores, key=scores.get)
    # the saved model is that step's checkpoint (same embeddings), at the inference length
    ckpt = load_model(str(tmp_path / "last" / "checkpoints" / "checkpoint-4"))
    saved = load_model(last.model_dir)
    assert saved.max_seq_length == load_model(str(minilm_path)).max_seq_length
    ckpt.max_seq_length = saved.max_seq_length
    np.testing.assert_allclose(saved.encode(["cordless drill"]), ckpt.encode(["cordless drill"]), atol=1e-5)
