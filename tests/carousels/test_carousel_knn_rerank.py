"""Masked exact KNN (torch) against faiss with IDSelector, and block re-ranking."""

from __future__ import annotations

import numpy as np
import pytest

from discovery_pipelines.carousels.knn import MaskedExactKNN, compare_with_faiss, faiss_masked_search
from discovery_pipelines.carousels.rerank import block_rerank, engagement_scores


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((3000, 64)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    q = e[rng.integers(0, 3000, 40)] + 0.3 * rng.standard_normal((40, 64)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    masks = rng.random((7, 3000)) < 0.2
    masks[6] = False
    masks[6, [5, 17]] = True  # a tiny mask: 2 items only
    return e, q, masks


def test_masked_topk_equals_faiss_idselector_and_respects_masks(vectors):
    e, q, masks = vectors
    knn = MaskedExactKNN(e, masks, device="cpu")
    mids = np.arange(40) % 7
    s, i = knn.search(q, mids, k=10)
    sf, jf = faiss_masked_search(e, q, [np.flatnonzero(masks[m]) for m in mids], k=10)
    for row in range(40):
        got = i[row][i[row] >= 0]
        assert masks[mids[row]][got].all()
        assert set(got) == set(jf[row][jf[row] >= 0])
        brute = np.flatnonzero(masks[mids[row]])
        best = brute[np.argsort(-(e[brute] @ q[row]))[:10]]
        assert set(got) == set(best)
    tiny = np.flatnonzero(mids == 6)[0]
    assert sorted(i[tiny][:2]) == [5, 17] and (i[tiny][2:] == -1).all() and np.isinf(s[tiny][2:]).all()
    rep = compare_with_faiss(knn, e, q, mids, masks, k=10, repeats=1)
    assert rep["identical_topk_share"] == 1.0 and rep["max_abs_score_diff"] < 1e-4


def test_best_per_mask_and_extra_mask(vectors):
    e, q, masks = vectors
    knn = MaskedExactKNN(e, masks, device="cpu")
    v, idx = knn.best_per_mask(q[0], [0, 6])
    for m, j in zip([0, 6], idx):
        allowed = np.flatnonzero(masks[m])
        assert j == allowed[np.argmax(e[allowed] @ q[0])]
    extra = np.zeros((1, 3000), bool)
    extra[0, :100] = True
    _, i = knn.search(q[:1], [0], k=5, extra_mask=extra)
    assert (i[0][i[0] >= 0] < 100).all() and masks[0][i[0][i[0] >= 0]].all()
    with pytest.raises(ValueError, match="masks must be"):
        MaskedExactKNN(e, masks[:, :10])


def test_block_rerank_moves_items_only_within_blocks():
    R = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    S = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.95])
    order = block_rerank(R, S, alpha=1.0, beta=1.0, block_size=3)
    assert set(order[:3]) == {0, 1, 2} and set(order[3:]) == {3, 4, 5}
    assert order[0] == 2 and order[3] == 4  # 0.7*0.9 beats 0.9*0.1; 0.5*0.8 beats 0.4*0.95 and 0.6*0.3
    assert block_rerank(R, S, alpha=1.0, beta=0.0, block_size=3).tolist() == [0, 1, 2, 3, 4, 5]
    assert block_rerank(R, S, alpha=0.0, beta=1.0, block_size=6).tolist() == [5, 2, 4, 3, 1, 0]
    assert block_rerank(R, S, block_size=1).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        block_rerank(R, S[:3])


def test_personal_engagement_prefers_the_users_own_items():
    import pandas as pd

    pop = pd.Series({"a": 1.0, "b": 0.5, "c": 0.1})
    r = engagement_scores("u", ["a", "b", "c", "zz"], pop, {"c": 4}, "personal")
    assert r[2] > r[1] and r[3] > 0  # own repeat buy beats a more popular item; unknown item floored
    assert engagement_scores("u", ["a", "b"], pop, {}, "popularity").tolist() == [1.0, 0.5]


def test_no_mask_ids_means_no_stored_mask(vectors):
    e, q, masks = vectors
    knn = MaskedExactKNN(e, masks, device="cpu")
    _, i = knn.search(q[:3], None, k=10)
    best = np.argsort(-(q[:3] @ e.T), axis=1)[:, :10]
    assert all(set(a) == set(b) for a, b in zip(i, best))  # all documents, not mask row 0
