"""Split, metrics, baselines, features, two-tower, semantic IDs, ranker, blend and serving on a real
Complete Journey slice (120 households)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from discovery_pipelines.personalization import baselines as bl
from discovery_pipelines.personalization import blend as bd
from discovery_pipelines.personalization import ranker as rk
from discovery_pipelines.personalization import semantic_ids as sid
from discovery_pipelines.personalization import two_tower as tt
from discovery_pipelines.personalization.evaluation import evaluate_model, item_prices
from discovery_pipelines.personalization.features import build_features
from discovery_pipelines.personalization.split import stage_data
from discovery_pipelines.search.metrics import binary_topk_metrics


@pytest.fixture(scope="module")
def stages(cj_small):
    _, lines, _ = cj_small
    return {s: stage_data(lines, s) for s in ("valid", "test")}


@pytest.fixture(scope="module")
def tower(stages, cj_small_text):
    _, text = cj_small_text
    return tt.train_two_tower(stages["valid"], text, epochs=2, batch_size=256, targets_per_user=10,
                              history_len=32, progress=False, device="cpu")


def test_split_last_basket_per_user(cj_small):
    h, lines, users = cj_small
    b = lines.drop_duplicates("basket_id").sort_values(["user_id", "timestamp"])
    last = b.groupby("user_id").tail(1)
    ev = users.set_index("user_id")["status"]
    assert (last[ev.loc[last["user_id"]].to_numpy() == "evaluated"]["split"] == "test").all()
    second = b.groupby("user_id").nth(-2)
    assert (second[ev.loc[second["user_id"]].to_numpy() == "evaluated"]["split"] == "valid").all()
    short = users[users["n_baskets"] < 3]
    assert (users["status"] == "too_few_baskets").sum() == len(short)
    assert set(lines[lines["user_id"].isin(set(short["user_id"]))]["split"]) <= {"train"}
    assert lines["user_id"].nunique() == len(users) == h.lines["user_id"].nunique()  # nobody dropped


def test_binary_topk_metrics_by_hand():
    ranked = np.array([[5, 1, 7, 2] + [-1] * 16, [9, 8, 3, 4] + [-1] * 16])
    m = binary_topk_metrics(ranked, [np.array([1, 2]), np.array([], dtype=np.int64)])
    # row 0: hits at ranks 2 and 4; DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    assert m.loc[0, "ndcg@10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    assert m.loc[0, "recall@20"] == 1.0 and m.loc[0, "hit@10"] == 1.0
    assert np.isnan(m.loc[1, "ndcg@10"])
    with pytest.raises(ValueError, match="fewer than the largest cut-off"):
        binary_topk_metrics(ranked[:, :5], [np.array([1]), np.array([2])])


def test_baselines_rank_like_next_basket_studies(stages):
    sd = stages["test"]
    price, disc = item_prices(sd.history, sd.n_items)
    res = {}
    for name, m in bl.fit_baselines(sd).items():
        items, scores = bl.top_k(m.score, sd.users, 50)
        assert (np.diff(scores, axis=1) <= 1e-6).all(), name  # best first
        assert all(len(set(r)) == len(r) for r in items), name
        res[name], _ = evaluate_model(items, sd, price, disc)
    # the user's own items beat global popularity overall, and TIFU-KNN is close to own frequency
    assert res["own_frequency"]["all_ndcg@10"] > res["popularity"]["all_ndcg@10"] + 0.03
    assert res["tifu_knn"]["all_ndcg@10"] > 0.8 * res["own_frequency"]["all_ndcg@10"]
    # own-frequency almost never recommends new items; popularity does
    assert res["popularity"]["explore_recall@20"] > res["own_frequency"]["explore_recall@20"]
    assert res["als"]["coverage@10"] > res["popularity"]["coverage@10"]


def test_tifu_vectors_follow_the_paper(stages):
    sd = stages["valid"]
    u = bl.tifu_user_vectors(sd, group_size=2, r_b=0.5, r_g=0.5)
    user = int(sd.users[0])
    h = sd.history[sd.history["u"] == user].drop_duplicates(["basket_pos", "i"])
    pos = sorted(h["basket_pos"].unique())
    n = len(pos)
    # recompute by the paper's formulas: groups of 2 from the most recent basket backwards
    expect = np.zeros(sd.n_items)
    groups = [pos[max(0, n - 2 * (g + 1)): n - 2 * g] for g in range((n + 1) // 2)]
    for g, grp in enumerate(groups):
        vec = np.zeros(sd.n_items)
        for j, p in enumerate(reversed(grp)):
            vec[h.loc[h["basket_pos"] == p, "i"].to_numpy()] += 0.5 ** j
        expect += 0.5 ** g * vec / len(grp)
    expect /= len(groups)
    np.testing.assert_allclose(u[user].toarray().ravel(), expect, rtol=1e-5, atol=1e-7)


def test_features_duckdb_match_pandas(stages):
    h = stages["valid"].history
    f = build_features(h, "duckdb")
    ui = f["user_item"].set_index(["u", "i"])
    ref = h.groupby(["u", "i"])["basket_id"].nunique()
    assert (ui.loc[ref.index, "ui_baskets"].to_numpy() == ref.to_numpy()).all()
    user = f["user"].set_index("u")
    np.testing.assert_allclose(user.loc[h["u"].unique(), "u_avg_price"],
                               h.groupby("u")["price"].mean().loc[h["u"].unique()], rtol=1e-9)
    share = f["item"].set_index("i")[[f"i_daypart{k}_share" for k in range(4)]].sum(1)
    np.testing.assert_allclose(share, 1.0)
    with pytest.raises(ValueError, match="engine must be one of"):
        build_features(h, "polars")


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_features_spark_parity(stages):
    from discovery_pipelines.log_mining.mining import spark_session

    h = stages["valid"].history
    duck = build_features(h, "duckdb")
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "1"}
    with spark_session("local[1]", conf, "personalization-test") as spark:
        sp = build_features(h, "spark", spark=spark)
    for name in duck:
        pd.testing.assert_frame_equal(sp[name], duck[name], check_exact=False, rtol=1e-9, atol=1e-12)


def test_logq_loss_is_softmax_with_corrected_logits():
    g = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=1)
    v = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=1)
    items = torch.tensor([0, 1, 2, 3, 4, 5])
    flat = tt.sampled_softmax_logq_loss(u, v, items, torch.zeros(6), 0.1)
    assert flat == pytest.approx(float(torch.nn.functional.cross_entropy(u @ v.T / 0.1, torch.arange(6))), rel=1e-5)
    # a popular in-batch item (high q) is discounted as a negative: the loss drops when its log q rises
    lq = torch.zeros(6)
    lq[3] = 2.0
    assert tt.sampled_softmax_logq_loss(u, v, items, lq, 0.1) != pytest.approx(float(flat))
    # same-item columns are not negatives
    dup = torch.tensor([0, 0, 2, 3, 4, 5])
    masked = tt.sampled_softmax_logq_loss(u, v, dup, torch.zeros(6), 0.1)
    assert torch.isfinite(masked)


def test_two_tower_learns_and_recall_uses_faiss(stages, tower, cj_small_text):
    _, text = cj_small_text
    model, rep = tower
    assert rep.examples > 1000 and rep.examples_per_s > 0 and np.isfinite(rep.final_loss)
    sd = stages["valid"]
    price, disc = item_prices(sd.history, sd.n_items)
    snaps = tt.stage_snapshots(sd, 32)
    iv = tt.all_item_vectors(model, sd.n_items)
    items, scores = tt.faiss_recall(iv, tt.user_vectors(model, snaps), 50)
    trained, _ = evaluate_model(items, sd, price, disc)
    fresh = tt.TwoTower(sd.n_items, torch.tensor(text), dim=64).eval()
    f_items, _ = tt.faiss_recall(tt.all_item_vectors(fresh, sd.n_items), tt.user_vectors(fresh, snaps), 50)
    untrained, _ = evaluate_model(f_items, sd, price, disc)
    assert trained["all_recall@20"] > untrained["all_recall@20"] + 0.03
    # faiss exact IP equals a brute-force dot product
    uv = tt.user_vectors(model, snaps)
    np.testing.assert_allclose(scores[:, 0], (uv @ iv.T).max(1), rtol=1e-4)


def test_semantic_ids_unique_stats_and_prefix_vectors(cj_small_text, tower, stages):
    items, text = cj_small_text
    codes = sid.residual_codes(text, levels=3, bits=6)
    full = sid.with_collision_suffix(codes)
    assert len(set(map(tuple, full))) == len(full)
    st = sid.semantic_id_stats(codes, items["department"].to_numpy(), text, bits=6)
    assert 0 < st["collision_rate"] < 1 and st["codes_used_level1"] <= 64
    assert 0 < st["nmi_level1_vs_department"] <= 1 and 0 < st["nmi_kmeans_vs_department"] <= 1
    model, _ = tower
    iv = tt.all_item_vectors(model, len(items))
    counts = np.bincount(stages["valid"].history["i"], minlength=len(items))
    cold, warm = counts <= 1, counts > 1
    new, served = sid.prefix_vectors(iv, codes, warm, cold)
    assert served["unserved"] + sum(v for k, v in served.items() if k.startswith("prefix")) == cold.sum()
    np.testing.assert_array_equal(new[warm], iv[warm] / np.linalg.norm(iv[warm], axis=1, keepdims=True))
    # a cold item served at full length gets exactly the mean of the warm items sharing its code
    key = [tuple(r) for r in codes]
    j = next(j for j in np.flatnonzero(cold) if any(warm[m] and key[m] == key[j] for m in range(len(key))))
    donors = [m for m in range(len(key)) if warm[m] and key[m] == key[j]]
    mean = iv[donors].mean(0)
    np.testing.assert_allclose(new[j], mean / np.linalg.norm(mean), rtol=1e-5)


@pytest.fixture(scope="module")
def ranked(cj_small, stages, tower):
    """Candidate rows (own-frequency, TIFU-KNN and two-tower) of the valid, test and serve stages, and the
    ranker heads fitted on valid."""
    _, lines, _ = cj_small
    model, _ = tower
    sds = {**stages, "serve": stage_data(lines, "serve")}
    iv = tt.all_item_vectors(model, sds["valid"].n_items)
    codes = sid.residual_codes(iv, levels=2, bits=4)
    rows = {}
    for s, sd in sds.items():
        runs = {n: bl.top_k(m.score, sd.users, 50)[0] for n, m in bl.fit_baselines(sd, names=["own_frequency", "tifu_knn"]).items()}
        uv = tt.user_vectors(model, tt.stage_snapshots(sd, 32))
        runs["two_tower"] = tt.faiss_recall(iv, uv, 50)[0]
        cand = rk.candidates(runs, sd.users, {"own_frequency": 30, "tifu_knn": 30, "two_tower": 30})
        assert not cand.duplicated(["u", "i"]).any()
        row = np.searchsorted(sd.users, cand["u"].to_numpy())
        scores = {"two_tower": np.einsum("nd,nd->n", uv[row], iv[cand["i"].to_numpy()])}
        rows[s] = rk.assemble(cand, sd, build_features(sd.history), scores, codes)
    models, rep = rk.fit_ranker(rows["valid"], n_estimators=60, early_stopping=20, min_child_samples=10)
    return sds, rows, models, rep


def test_serve_stage_is_every_user_over_their_whole_history(cj_small):
    from collections import Counter

    _, lines, users = cj_small
    sd = stage_data(lines, "serve")
    np.testing.assert_array_equal(sd.users, np.sort(users["u"].to_numpy()))  # too-few-baskets users too
    assert (users["status"] == "too_few_baskets").any()
    assert len(sd.history) == len(lines) and all(len(t) == 0 for t in sd.targets)
    test = stage_data(lines, "test")
    j = np.searchsorted(sd.users, test.users[0])
    assert set(sd.seen[j]) == set(test.seen[0]) | set(test.targets[0])
    for u in sd.users[:20]:
        b = lines[lines["u"] == u].drop_duplicates("basket_id")
        counts = Counter(b["day_of_week"])
        best = max(counts.values())
        row = sd.target_context.set_index("u").loc[u]
        assert row["day_of_week"] == min(d for d, c in counts.items() if c == best)
        assert counts[row["day_of_week"]] == best and row["timestamp"] == b["timestamp"].max()


def test_ranker_and_blend_on_slice(ranked):
    sds, rows, models, rep = ranked
    for s in ("valid", "test"):
        assert rows[s]["label"].sum() > 0 and set(rk.FEATURES) <= set(rows[s].columns)
    assert rows["serve"]["label"].sum() == 0 and set(rows["serve"]["u"]) == set(sds["serve"].users)
    assert 0 < rep["rank_heldout_ndcg@10"] <= 1
    sd = sds["test"]
    scored = bd.value_columns(rk.predict_heads(models, rows["test"]))
    assert scored[["v_familiarity", "v_affordability", "v_novelty"]].stack().between(0, 1).all()
    assert (scored.loc[scored["ui_seen"] == 1, "p_new"] == 0).all()
    slate = bd.blend_slate(scored, sd.users, bd.BlendWeights(explore_slots=5))
    no_ex = bd.blend_slate(scored, sd.users, bd.BlendWeights(explore_slots=0))
    np.testing.assert_array_equal(slate[:, :10], no_ex[:, :10])  # the top 10 is untouched by the quota
    seen = {int(u): set(s_) for u, s_ in zip(sd.users, sd.seen)}
    new_in_tail = [sum(i not in seen[int(u)] for i in row[10:15] if i >= 0) for u, row in zip(sd.users, slate)]
    assert np.mean(new_in_tail) > 4


def _bundle(cj_small, cj_small_text, tower, ranked, stage):
    from discovery_pipelines.personalization import explore as ex
    from discovery_pipelines.personalization.recommender import build_bundle

    _, lines, users = cj_small
    items, _ = cj_small_text
    model, _ = tower
    sds, rows, models, _ = ranked
    sd = sds[stage]
    explore = ex.explore_lists(sd, items, {"neighbour_items": 1.0}, list_length=30)["explore"]
    saved = {"config": {"n_items": len(items), "dim": 64, "tau": 0.05, "history_len": 32,
                        "text_dim": int(model.text.shape[1])}, "state_dict": model.state_dict()}
    w = bd.BlendWeights(explore_slots=10, explore_after=10)
    full = {"models": models, "rows": rows[stage], "users": sd.users, "explore": explore, "weights": w,
            "context": sd.target_context}
    bundle = build_bundle(saved, tt.all_item_vectors(model, len(items)), items, lines, users, "completejourney",
                          full_stack=full)
    return bundle, explore, w


def test_served_full_stack_is_the_slate_the_report_scores(cj_small, cj_small_text, tower, ranked):
    """A bundle built on the test stage answers each user with exactly the report's ``full_stack`` list."""
    from discovery_pipelines.personalization.recommender import Recommender

    _, _, users = cj_small
    sds, rows, models, _ = ranked
    sd = sds["test"]
    bundle, explore, w = _bundle(cj_small, cj_small_text, tower, ranked, "test")
    rec = Recommender(bundle)
    reported = bd.blend_slate(bd.value_columns(rk.predict_heads(models, rows["test"])), sd.users, w, explore)
    ids = users.set_index("u")["user_id"].astype(str)
    pid = cj_small_text[0]["product_id"].astype(str).to_numpy()
    ctx = sd.target_context.set_index("u")
    changed = 0
    for n, u in enumerate(sd.users):
        want = [pid[i] for i in reported[n] if i >= 0]
        got = rec.recommend(ids[u], k=20, day_of_week=int(ctx.loc[u, "day_of_week"]), hour=int(ctx.loc[u, "hour"]))
        assert got.source == "full_stack" and [it["product_id"] for it in got.items] == want
        assert [it["slot"] for it in got.items[:10]] == ["ranked"] * 10 and got.items[10]["slot"] == "explore"
        assert all(a["score"] >= b["score"] for a, b in zip(got.items[:9], got.items[1:10]))
        # no context given: the bundle's default for the user (here the test basket's own)
        assert [it["product_id"] for it in rec.recommend(ids[u], k=20).items] == want
        other = rec.recommend(ids[u], k=10, day_of_week=(int(ctx.loc[u, "day_of_week"]) + 3) % 7,
                              hour=(int(ctx.loc[u, "hour"]) + 12) % 24)
        changed += [it["score"] for it in other.items] != [it["score"] for it in got.items[:10]]
    assert changed > 0  # the request's context reaches the ranker


def test_recommender_bundle_cli_and_http_route(cj_small, cj_small_text, tower, ranked, tmp_path):
    import pickle

    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from discovery_pipelines.personalization.recommender import Recommender
    from discovery_pipelines.serve.cli import app
    from discovery_pipelines.serve.recommend_api import create_router

    _, lines, users = cj_small
    items, _ = cj_small_text
    bundle, _, _ = _bundle(cj_small, cj_small_text, tower, ranked, "serve")
    path = tmp_path / "recommender.pkl"
    path.write_bytes(pickle.dumps(bundle))
    rec = Recommender.load(path)
    short = users[users["status"] == "too_few_baskets"]["user_id"].astype(str)
    for known in (str(users["user_id"].iloc[0]), short.iloc[0]):
        r = rec.recommend(known, k=10, day_of_week=5, hour=17)
        assert r.source == "full_stack" and len(r.items) == 10
        assert len({i["product_id"] for i in r.items}) == 10
    known = str(users["user_id"].iloc[0])
    tw = rec.recommend(known, k=10, model="two_tower")
    assert tw.source == "two_tower" and len({i["product_id"] for i in tw.items}) == 10
    with pytest.raises(ValueError, match="model must be one of"):
        rec.recommend(known, model="ranker")
    cold = rec.recommend("no-such-household", k=5)
    assert cold.source == "popularity_cold_start" and len(cold.items) == 5
    top = lines.drop_duplicates(["basket_id", "i"])["i"].value_counts().index[0]
    assert cold.items[0]["product_id"] == items["product_id"].iloc[top]
    res = CliRunner().invoke(app, ["recommend", "--user", known, "-k", "3", "--bundle", str(path), "--json"])
    assert res.exit_code == 0, res.output
    body = __import__("json").loads(res.output)
    assert body["source"] == "full_stack" and len(body["items"]) == 3
    res = CliRunner().invoke(app, ["recommend", "--user", known, "-k", "12", "--bundle", str(path)])
    assert res.exit_code == 0 and "explore" in res.output, res.output
    res = CliRunner().invoke(app, ["recommend", "--user", known, "--bundle", str(tmp_path / "missing.pkl")])
    assert res.exit_code == 2 and "no recommender bundle" in res.output
    api = FastAPI()
    api.include_router(create_router(path))
    client = TestClient(api)
    got = client.get("/recommend", params={"user": "no-such-household", "k": 4}).json()
    assert got["source"] == "popularity_cold_start" and len(got["items"]) == 4 and got["dataset"] == "completejourney"
    got = client.get("/recommend", params={"user": known, "k": 15}).json()
    assert got["source"] == "full_stack" and [i["slot"] for i in got["items"]].count("explore") == 5
    assert client.get("/recommend", params={"user": known, "model": "two_tower"}).json()["source"] == "two_tower"
    assert client.get("/recommend", params={"user": known, "k": 0}).status_code == 422
    assert client.get("/recommend", params={"user": known, "hour": 24}).status_code == 422
    assert client.get("/recommend", params={"user": known, "model": "ranker"}).status_code == 422


def test_parameters_reject_misspelt_keys():
    from pydantic import ValidationError

    from discovery_pipelines.personalization.params import PersonalizationParams

    with pytest.raises(ValidationError, match="two_towr"):
        PersonalizationParams.model_validate({"two_towr": {}})
    with pytest.raises(ValidationError, match="dataset"):
        PersonalizationParams.model_validate({"dataset": "movielens"})
    with pytest.raises(ValidationError, match="epocs"):
        PersonalizationParams.model_validate({"two_tower": {"epocs": 2}})


def test_compare_to_gives_paired_bootstrap_cis():
    from discovery_pipelines.personalization.evaluation import compare_to

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.3, 400)
    cols = ("all_ndcg@10", "all_recall@20", "explore_recall@20")
    ref = pd.DataFrame({"u": np.arange(400), **{c: base for c in cols}})
    better = ref.assign(**{c: base + 0.02 + rng.normal(0, 0.01, 400) for c in cols}).sample(frac=1, random_state=1)
    ci = compare_to({"ref": ref, "better": better, "same": ref.copy()}, "ref", n_boot=500)
    b = ci["better"]["all_ndcg@10"]
    assert b["low"] > 0 and b["mean"] == pytest.approx(0.02, abs=0.003) and b["n"] == 400
    assert ci["same"]["all_ndcg@10"]["mean"] == 0 and "ref" not in ci
