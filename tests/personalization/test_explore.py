"""Explore generators and the explore slots of the slate on a real Complete Journey slice (120 households)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.personalization import baselines as bl
from discovery_pipelines.personalization import blend as bd
from discovery_pipelines.personalization import explore as ex
from discovery_pipelines.personalization.evaluation import evaluate_model, item_prices
from discovery_pipelines.personalization.items import item_table
from discovery_pipelines.personalization.split import stage_data


@pytest.fixture(scope="module")
def valid(cj_small):
    _, lines, _ = cj_small
    return stage_data(lines, "valid")


@pytest.fixture(scope="module")
def items(cj_small):
    h, lines, _ = cj_small
    return item_table(lines, h.products)


def _no_seen(lists: np.ndarray, sd) -> bool:
    return all(not np.isin(row[row >= 0], s).any() for row, s in zip(lists, sd.seen))


def test_adoptions_count_first_purchases_after_the_first_basket(valid):
    h = valid.history
    q = ex.adoptions(h, valid.n_items)
    # independent recount: per (user, item) the first basket; adopted when later than the user's first basket
    first = h.groupby(["u", "i"])["basket_pos"].min().reset_index()
    first = first[first["basket_pos"] > first["u"].map(h.groupby("u")["basket_pos"].min())]
    expect = first.groupby("i").size()
    np.testing.assert_array_equal(q[expect.index.to_numpy()], expect.to_numpy())
    assert q.sum() == len(first)
    decayed = ex.adoptions(h, valid.n_items, half_life_days=30.0)
    assert (decayed <= q + 1e-6).all() and decayed.sum() < q.sum()


def test_taxonomy_popularity_prefers_the_users_own_types_and_skips_own_items(valid, items):
    plain = ex.TaxonomyPopularity(items, {}, half_life_days=None).fit(valid)
    gl, _ = bl.top_k(plain.score, valid.users, 20)
    q = ex.adoptions(valid.history, valid.n_items)
    for row, s in zip(gl[:5], valid.seen[:5]):  # no levels: adoption popularity among unseen items
        unseen = np.setdiff1d(np.flatnonzero(q > 0), s)
        assert q[row[0]] == q[unseen].max() and not np.isin(row, s).any()
    gen = ex.TaxonomyPopularity(items, {"product_type": 1.0}, alpha=1.0, half_life_days=None).fit(valid)
    lists, _ = bl.top_k(gen.score, valid.users, 20)
    assert _no_seen(lists, valid)
    types = items["product_type"].to_numpy()
    own = [set(types[s]) for s in valid.seen]
    share = lambda ls: np.mean([np.isin(types[r], list(o)).mean() for r, o in zip(ls, own)])  # noqa: E731
    assert share(lists) > share(gl) + 0.2  # new items of the types the user buys
    # a very strong prior turns every lift to 1: back to plain adoption popularity
    flat = ex.TaxonomyPopularity(items, {"product_type": 1.0}, alpha=1e9, half_life_days=None).fit(valid)
    np.testing.assert_allclose(bl.top_k(flat.score, valid.users, 5)[1], bl.top_k(plain.score, valid.users, 5)[1], atol=1e-5)


def test_generators_mask_own_items_and_beat_chance(valid, items):
    seen = ex.seen_matrix(valid)
    gens = {"taxonomy": ex.TaxonomyPopularity(items, {"product_type": 1.0, "category": 0.3}).fit(valid),
            "neighbours": ex.NeighbourItems(k=30).fit(valid),
            "cooccurrence": ex.Masked(bl.CoOccurrence().fit(valid).score, seen)}
    rng = np.random.default_rng(0)
    rand = np.stack([rng.choice(np.setdiff1d(np.arange(valid.n_items), s), 20, replace=False) for s in valid.seen])
    chance = ex.explore_metrics(rand, valid)["explore_recall@20"]
    for name, g in gens.items():
        lists = bl.top_k(g.score, valid.users, 20)[0]
        assert _no_seen(lists, valid), name
        m = ex.explore_metrics(lists, valid)
        assert m["explore_recall@20"] > 3 * chance, (name, m, chance)


def test_explore_metrics_agree_with_the_report_formula(valid, items):
    lists = bl.top_k(ex.TaxonomyPopularity(items, {"category": 1.0}).fit(valid).score, valid.users, 20)[0]
    price, disc = item_prices(valid.history, valid.n_items)
    summary, _ = evaluate_model(lists, valid, price, disc)
    m = ex.explore_metrics(lists, valid)
    assert m["explore_recall@20"] == pytest.approx(summary["explore_recall@20"])
    hits = sum(np.isin(r[:20], e).sum() for r, e in zip(lists, valid.repeat_explore()[1]) if len(e))
    assert m["hits_per_slot@20"] == pytest.approx(hits / 20 / m["n_users_explore"])


def test_rank_fusion_by_hand():
    users = np.array([3, 7])
    lists = {"a": np.array([[1, 2, -1], [4, 5, 6]]), "b": np.array([[2, 9, 1], [6, -1, -1]])}
    f = ex.RankFusion(users, lists, {"a": 1.0, "b": 0.5}, n_items=10, c=1.0)
    s = f.score(np.array([7, 3]))
    assert s[1, 2] == pytest.approx(1 / 3 + 0.5 / 2) and s[1, 1] == pytest.approx(1 / 2 + 0.5 / 4)
    assert s[0, 6] == pytest.approx(1 / 4 + 0.5 / 2) and s[0, 4] == pytest.approx(1 / 2)
    assert s[1, 0] == ex.SEEN_SCORE  # in no list


def test_explore_slots_take_generator_items_after_the_head(valid, items):
    rows = []
    runs = {n: bl.top_k(m.score, valid.users, 30)[0] for n, m in
            bl.fit_baselines(valid, names=["own_frequency", "popularity"]).items()}
    for u, own, pop in zip(valid.users, runs["own_frequency"], runs["popularity"]):
        cand = pd.unique(np.concatenate([own, pop]))
        rows.append(pd.DataFrame({"u": u, "i": cand, "v_familiarity": np.linspace(1, 0, len(cand)),
                                  "v_affordability": 0.0, "v_novelty": 0.0, "p_new": 0.0}))
    rows = pd.concat(rows, ignore_index=True)
    seen = {int(u): set(s) for u, s in zip(valid.users, valid.seen)}
    rows["ui_seen"] = [int(i in seen[int(u)]) for u, i in zip(rows["u"], rows["i"])]
    explore = bl.top_k(ex.TaxonomyPopularity(items, {"product_type": 1.0}).fit(valid).score, valid.users, 30)[0]
    base = bd.blend_slate(rows, valid.users, bd.BlendWeights(explore_slots=0), explore, k=40)
    for after, slots in ((10, 10), (8, 5)):
        slate = bd.blend_slate(rows, valid.users, bd.BlendWeights(explore_slots=slots, explore_after=after), explore)
        np.testing.assert_array_equal(slate[:, :after], base[:, :after])  # head untouched
        assert (slate[:, after:after + slots] >= 0).all()
        for row, e, b in zip(slate, explore, base):
            picked = [i for i in e if i not in set(row[:after])][:slots]
            assert list(row[after:after + slots]) == picked
            assert len(set(row[row >= 0])) == (row >= 0).sum()  # no duplicates
            rest = [i for i in b[after:] if i not in set(picked)]
            assert list(row[after + slots:]) == rest[:20 - after - slots]


def test_explore_lists_fuse_generators_and_reject_empty_weights(valid, items):
    params = {"neighbour_items": {"k": 30}, "taxonomy_popularity": {"levels": {"category": 1.0}}}
    one = ex.explore_lists(valid, items, {"neighbour_items": 1.0, "taxonomy_popularity": 0.0}, list_length=20,
                           params=params)
    assert set(one) == {"neighbour_items", "explore"} and one["explore"] is one["neighbour_items"]
    both = ex.explore_lists(valid, items, {"neighbour_items": 1.0, "taxonomy_popularity": 1.0}, list_length=20,
                            params=params)
    assert both["explore"].shape == (len(valid.users), 20) and _no_seen(both["explore"], valid)
    for row, a, b in zip(both["explore"], both["neighbour_items"], both["taxonomy_popularity"]):
        assert set(row) <= set(a) | set(b)  # fusion only reorders the generators' items
    with pytest.raises(ValueError, match="positive weight"):
        ex.explore_lists(valid, items, {"neighbour_items": 0.0})
