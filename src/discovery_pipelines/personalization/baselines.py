"""Next-basket baselines that are hard to beat (Li et al., "A Next Basket Recommendation Reality Check",
TOIS 2023): global popularity, the user's own top-frequency items padded with popularity, item-item
co-occurrence, TIFU-KNN (Hu et al., SIGIR 2020) and implicit-feedback ALS (Hu, Koren & Volinsky, ICDM
2008, via the ``implicit`` library).

Every model is fitted on a :class:`~discovery_pipelines.personalization.split.StageData` history and
exposes ``score(users) -> float32 (len(users), n_items)`` (higher = better); :func:`top_k` turns any
scorer into ranked item codes in bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from discovery_pipelines.personalization.split import StageData

Scorer = Callable[[np.ndarray], np.ndarray]


def top_k(score: Scorer, users: np.ndarray, k: int, *, chunk: int = 256, progress: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item codes and scores per user, best first.

    Args:
        score: maps an int array of user codes to a dense ``(len, n_items)`` score matrix.
        users: user codes, shape ``(n,)``.
        k: list length.
        chunk: users scored at once (memory ~ chunk x n_items x 4 bytes).

    Returns:
        ``(items int64 (n, k), scores float32 (n, k))``.
    """
    items = np.zeros((len(users), k), np.int64)
    scores = np.zeros((len(users), k), np.float32)
    starts = range(0, len(users), chunk)
    for s in tqdm(starts, desc=progress, disable=progress is None, leave=False):
        sc = np.asarray(score(users[s : s + chunk]), dtype=np.float32)
        part = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(sc, part, 1)
        order = np.argsort(-ps, axis=1, kind="stable")
        items[s : s + chunk] = np.take_along_axis(part, order, 1)
        scores[s : s + chunk] = np.take_along_axis(ps, order, 1)
    return items, scores


def item_popularity(sd: StageData) -> np.ndarray:
    """Number of history baskets (all users) holding each item, float32 ``(n_items,)``."""
    h = sd.history.drop_duplicates(["basket_id", "i"])
    return np.bincount(h["i"].to_numpy(), minlength=sd.n_items).astype(np.float32)


class Popularity:
    """Global popularity: every user gets the items in most history baskets."""

    name = "popularity"

    def fit(self, sd: StageData) -> "Popularity":
        pop = item_popularity(sd)
        self.pop = pop / max(pop.max(), 1.0)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.pop, (len(users), len(self.pop)))


class OwnFrequency:
    """The user's items by the number of history baskets holding them, ties and padding by popularity."""

    name = "own_frequency"

    def fit(self, sd: StageData) -> "OwnFrequency":
        self.counts = sd.user_item_counts()
        pop = item_popularity(sd)
        self.pad = (pop / max(pop.max(), 1.0) * 1e-3).astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.counts[users].toarray() + self.pad


def basket_matrix(sd: StageData) -> sp.csr_matrix:
    """Binary ``(n_history_baskets, n_items)`` CSR matrix of the history baskets."""
    h = sd.history.drop_duplicates(["basket_id", "i"])
    rows = h["basket_id"].astype("category").cat.codes.to_numpy()
    return sp.csr_matrix((np.ones(len(h), np.float32), (rows, h["i"].to_numpy())),
                         shape=(int(rows.max()) + 1, sd.n_items))


class CoOccurrence:
    """Item-item co-occurrence within baskets, cosine-normalised: ``C_ij / sqrt(n_i n_j)``.

    A user's score is their recency-weighted item counts times ``C`` (weight ``decay ** baskets_ago``),
    padded with popularity. Items in fewer than ``min_count`` baskets are left out of ``C`` (memory).
    """

    name = "cooccurrence"

    def __init__(self, decay: float = 0.9, min_count: int = 3) -> None:
        self.decay, self.min_count = decay, min_count

    def fit(self, sd: StageData) -> "CoOccurrence":
        b = basket_matrix(sd)
        n = np.asarray(b.sum(0)).ravel()
        keep = sp.diags((n >= self.min_count).astype(np.float32))
        b = b @ keep
        c = (b.T @ b).tocsr()
        c.setdiag(0)
        c.eliminate_zeros()
        inv = sp.diags(1.0 / np.sqrt(np.maximum(n, 1)).astype(np.float32))
        self.c = (inv @ c @ inv).astype(np.float32).tocsr()
        h = sd.history.drop_duplicates(["u", "basket_id", "i"])
        last = h.groupby("u")["basket_pos"].transform("max")
        w = self.decay ** (last - h["basket_pos"]).to_numpy()
        self.profile = sp.csr_matrix((w.astype(np.float32), (h["u"].to_numpy(), h["i"].to_numpy())),
                                     shape=(sd.n_users, sd.n_items))
        pop = item_popularity(sd)
        self.pad = (pop / max(pop.max(), 1.0) * 1e-6).astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return (self.profile[users] @ self.c).toarray() + self.pad


def tifu_user_vectors(sd: StageData, group_size: int, r_b: float, r_g: float) -> sp.csr_matrix:
    """TIFU user vectors (Hu et al. 2020, eqs. 1-3): time-decayed, group-averaged basket vectors.

    Baskets are grouped from the most recent backwards into groups of ``group_size`` (the oldest group
    may be smaller); within a group basket ``j`` baskets before the group's last weighs ``r_b ** j``
    and the group sum is divided by its size; group ``g`` groups before the last weighs ``r_g ** g``
    and the total is divided by the number of groups. Returns float32 ``(n_users, n_items)``.
    """
    h = sd.history.drop_duplicates(["u", "basket_id", "i"])
    b = h.drop_duplicates("basket_id")[["u", "basket_id", "basket_pos"]].copy()
    b["rank"] = b.groupby("u")["basket_pos"].rank(ascending=False, method="first").astype(int) - 1
    nb = b.groupby("u")["basket_id"].transform("size")
    g = b["rank"] // group_size
    n_groups = (nb + group_size - 1) // group_size
    size = np.where(g == n_groups - 1, nb - (n_groups - 1) * group_size, group_size)
    b["w"] = (r_b ** (b["rank"] % group_size)) / size * (r_g ** g) / n_groups
    w = h["basket_id"].map(b.set_index("basket_id")["w"]).to_numpy(np.float32)
    return sp.csr_matrix((w, (h["u"].to_numpy(), h["i"].to_numpy())), shape=(sd.n_users, sd.n_items))


class TifuKnn:
    """TIFU-KNN (Hu et al., SIGIR 2020): ``alpha * u + (1 - alpha) * mean(u of the k nearest users)``.

    Neighbours by Euclidean distance between TIFU user vectors (as in the paper), among all users with
    history. Defaults are the paper's (m=7, r_b=0.9, r_g=0.7, k=300, alpha=0.7), padded by popularity.
    """

    name = "tifu_knn"

    def __init__(self, group_size: int = 7, r_b: float = 0.9, r_g: float = 0.7, k: int = 300,
                 alpha: float = 0.7) -> None:
        self.group_size, self.r_b, self.r_g, self.k, self.alpha = group_size, r_b, r_g, k, alpha

    def fit(self, sd: StageData) -> "TifuKnn":
        u = tifu_user_vectors(sd, self.group_size, self.r_b, self.r_g)
        self.u = u
        active = np.flatnonzero(np.diff(u.indptr) > 0)
        ua = u[active]
        sq = np.asarray(ua.multiply(ua).sum(1)).ravel()
        self.active, self.ua, self.sq = active, ua, sq
        pop = item_popularity(sd)
        self.pad = (pop / max(pop.max(), 1.0) * 1e-6).astype(np.float32)
        return self

    def neighbours(self, users: np.ndarray) -> sp.csr_matrix:
        """Row-normalised ``(len(users), n_users)`` matrix averaging each user's ``k`` nearest users."""
        q = self.u[users]
        qsq = np.asarray(q.multiply(q).sum(1)).ravel()
        d2 = qsq[:, None] + self.sq[None, :] - 2 * (q @ self.ua.T).toarray()
        pos = np.searchsorted(self.active, users)
        is_self = (pos < len(self.active)) & (self.active[np.minimum(pos, len(self.active) - 1)] == users)
        d2[np.flatnonzero(is_self), pos[is_self]] = np.inf
        k = min(self.k, len(self.active) - 1)
        nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(len(users)), k)
        return sp.csr_matrix((np.full(rows.size, 1.0 / k, np.float32), (rows, self.active[nn.ravel()])),
                             shape=(len(users), self.u.shape[0]))

    def score(self, users: np.ndarray) -> np.ndarray:
        own = self.u[users]
        nb = self.neighbours(users) @ self.u
        return (self.alpha * own + (1 - self.alpha) * nb).toarray() + self.pad


class ImplicitALS:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) from ``implicit``, on BM25-weighted basket counts.

    ``implicit``'s CPU solver (conjugate gradient); user and item factors are fitted on the stage
    history, so the test stage sees the valid basket too.
    """

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15,
                 bm25_k1: float = 100.0, bm25_b: float = 0.8, seed: int = 0) -> None:
        self.kw = dict(factors=factors, regularization=regularization, iterations=iterations, random_state=seed)
        self.bm25 = (bm25_k1, bm25_b)

    def fit(self, sd: StageData) -> "ImplicitALS":
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.nearest_neighbours import bm25_weight

        x = bm25_weight(sd.user_item_counts(), K1=self.bm25[0], B=self.bm25[1]).tocsr().astype(np.float32)
        model = AlternatingLeastSquares(**self.kw, num_threads=int(os.environ.get("DISCOVERY_THREADS", 0) or 0),
                                        calculate_training_loss=False)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit's own threads; BLAS threads on top oversubscribe
            model.fit(x, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, np.float32)
        self.item_factors = np.asarray(model.item_factors, np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T


BASELINES: dict[str, type] = {m.name: m for m in (Popularity, OwnFrequency, CoOccurrence, TifuKnn, ImplicitALS)}


def fit_baselines(sd: StageData, params: dict[str, dict] | None = None, names: Sequence[str] | None = None) -> dict:
    """Fit the named baselines (default all) with per-model keyword ``params``; returns name -> model."""
    params = params or {}
    return {n: BASELINES[n](**params.get(n, {})).fit(sd) for n in (names or list(BASELINES))}
