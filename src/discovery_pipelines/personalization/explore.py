"""Explore generators: rank the items a user has *never bought* by how likely they are to be in the next basket.

Explore recall (Li et al., "A Next Basket Recommendation Reality Check", TOIS 2023) counts only the target
items new to the user, so every generator here scores the whole catalogue and masks the user's own
history items (:func:`mask_seen`). Each exposes ``score(users) -> float32 (len(users), n_items)`` like the
baselines, so :func:`discovery_pipelines.personalization.baselines.top_k` turns it into ranked lists.

* :class:`TaxonomyPopularity` - category-conditioned popularity: the item's *adoption* count (users who
  bought it for the first time, time-decayed with ``half_life_days``) times, per taxonomy level (product
  type, category, department), a smoothed lift of the user's share of baskets holding the item's group
  over everyone's: popular items in the user's own categories that they have not bought yet. With no
  level it is plain adoption popularity of the unseen items.
* :class:`NeighbourItems` - user-KNN: the neighbour component of TIFU-KNN (Hu et al. SIGIR 2020),
  the mean TIFU vector of the ``k`` nearest users, without the user's own vector.
* co-occurrence and two-tower scores come from the existing models
  (:class:`~discovery_pipelines.personalization.baselines.CoOccurrence`, the two-tower vectors) through
  :class:`Masked` / :class:`DotScorer`.
* :class:`RankFusion` - a blend of generators by weighted reciprocal rank fusion (Cormack et al.,
  SIGIR 2009): ``sum_g w_g / (c + rank_g(u, i))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from discovery_pipelines.personalization.baselines import Scorer, TifuKnn
from discovery_pipelines.personalization.split import StageData

#: Score given to a user's own history items (below any real score).
SEEN_SCORE = -1e9


def seen_matrix(sd: StageData) -> sp.csr_matrix:
    """Binary float32 ``(n_users, n_items)``: 1 where the user has the item in the stage history."""
    h = sd.history.drop_duplicates(["u", "i"])
    return sp.csr_matrix((np.ones(len(h), np.float32), (h["u"].to_numpy(), h["i"].to_numpy())),
                         shape=(sd.n_users, sd.n_items))


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """``scores`` (float32 ``(len(users), n_items)``, copied) with the users' history items set to
    :data:`SEEN_SCORE`."""
    out = np.array(scores, dtype=np.float32, copy=True)
    s = seen[users].tocoo()
    out[s.row, s.col] = SEEN_SCORE
    return out


class Masked:
    """Any scorer with the user's own history items masked (:func:`mask_seen`)."""

    def __init__(self, scorer: Scorer, seen: sp.csr_matrix) -> None:
        self.scorer, self.seen = scorer, seen

    def score(self, users: np.ndarray) -> np.ndarray:
        return mask_seen(self.scorer(users), self.seen, users)


class DotScorer:
    """Dot-product scores ``user_vectors[row(u)] @ item_vectors.T`` (two-tower), rows looked up by user code.

    Args:
        users: int ``(n,)`` sorted user codes the rows of ``user_vectors`` belong to.
        user_vectors: float32 ``(n, d)``; item_vectors: float32 ``(n_items, d)``.
    """

    def __init__(self, users: np.ndarray, user_vectors: np.ndarray, item_vectors: np.ndarray) -> None:
        self.users, self.uv, self.iv = users, user_vectors, item_vectors

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.uv[np.searchsorted(self.users, users)] @ self.iv.T


def adoptions(history: pd.DataFrame, n_items: int, half_life_days: float | None = None) -> np.ndarray:
    """Per item, the (time-decayed) number of users who bought it for the first time, float32 ``(n_items,)``.

    A user's first basket is left out (everything in it is "first", which says nothing about trying new
    items). With ``half_life_days`` an adoption at time ``t`` weighs ``0.5 ** ((t_max - t) / half_life)``,
    ``t_max`` the last history timestamp (recent adoptions = items people are trying now).
    """
    h = history[["u", "i", "basket_pos", "timestamp"]]
    first = h.sort_values(["u", "i", "basket_pos"], kind="stable").drop_duplicates(["u", "i"])
    user_first = h.groupby("u")["basket_pos"].transform("min")
    first = first[first["basket_pos"].to_numpy() > user_first.loc[first.index].to_numpy()]
    w = np.ones(len(first), np.float64)
    if half_life_days is not None:
        t = pd.to_datetime(first["timestamp"])
        age = (pd.to_datetime(history["timestamp"]).max() - t).dt.total_seconds().to_numpy() / 86400.0
        w = 0.5 ** (age / half_life_days)
    return np.bincount(first["i"].to_numpy(), weights=w, minlength=n_items).astype(np.float32)


def group_codes(items: pd.DataFrame, column: str) -> np.ndarray:
    """int64 ``(n_items,)`` group code of each item (row = item code) for a taxonomy ``column``; ``-1`` where
    the value is missing (such items get no lift from that level). ``"a+b"`` groups by both columns
    (e.g. ``product_type+brand``: the same kind of product from the same brand, another flavour or size)."""
    cols = column.split("+")
    key = items[cols[0]].astype("string")
    for c in cols[1:]:
        key = key + "\x1f" + items[c].astype("string")
    codes, _ = pd.factorize(key, use_na_sentinel=True)
    return codes.astype(np.int64)


class TaxonomyPopularity:
    """Category-conditioned adoption popularity of items the user has not bought.

    ``log s(u, i) = log q(i) + sum_l w_l log lift_l(u, g_l(i))`` with ``q(i)`` the item's adoption count
    (:func:`adoptions`) and, per taxonomy level ``l`` (column ``g_l``), the user's smoothed affinity to
    the item's group relative to everyone's::

        lift_l(u, g) = ((c_ug + alpha * P(g)) / (c_u + alpha)) / P(g)

    ``c_ug``: the user's recency-weighted history baskets holding a group-``g`` item (basket weight
    ``decay ** baskets_ago``), ``c_u``: the user's weighted baskets, ``P(g)``: the share of all history
    baskets holding a group-``g`` item. ``alpha`` (pseudo-baskets) shrinks thin histories to global
    popularity (lift 1); a user who buys the group twice as often as everyone doubles its items' scores.
    This is popular-items-in-the-user's-own-categories with a Bayesian (Dirichlet) prior, the
    personalised-popularity idea of next-basket baselines (Li et al. TOIS 2023) applied to new items.

    Args:
        items: item table (row = item code) with the taxonomy columns named in ``levels``.
        levels: column (or ``"a+b"``, :func:`group_codes`) -> exponent ``w_l``; all-missing columns skipped;
            empty / None: plain adoption popularity (``items`` may then be None).
        alpha: prior strength in baskets.
        half_life_days: decay of the adoption counts (None: no decay).
        decay: per-basket recency weight of the user profile (1 = plain counts).
    """

    name = "taxonomy_popularity"

    def __init__(self, items: pd.DataFrame | None, levels: Mapping[str, float] | None = None, alpha: float = 5.0,
                 half_life_days: float | None = 180.0, decay: float = 0.97) -> None:
        self.items, self.levels, self.alpha = items, dict(levels or {}), alpha
        self.half_life_days, self.decay = half_life_days, decay

    def fit(self, sd: StageData) -> "TaxonomyPopularity":
        q = adoptions(sd.history, sd.n_items, self.half_life_days).astype(np.float64)
        self.log_q = np.log(np.maximum(q, 1e-3)).astype(np.float32)
        h = sd.history.drop_duplicates(["u", "basket_id", "i"])
        last = h.groupby("u")["basket_pos"].transform("max")
        bw = self.decay ** (last - h["basket_pos"]).to_numpy()
        b = h.drop_duplicates(["u", "basket_id"])
        c_u = np.bincount(b["u"].to_numpy(), weights=self.decay ** (
            b.groupby("u")["basket_pos"].transform("max") - b["basket_pos"]).to_numpy(), minlength=sd.n_users)
        n_baskets = h["basket_id"].nunique()
        self.parts: list[tuple[float, np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray]] = []
        for col, w in self.levels.items():
            cols = col.split("+")
            if w == 0 or any(c not in self.items or self.items[c].isna().all() for c in cols):
                continue
            g = group_codes(self.items, col)
            ng = int(g.max()) + 1
            hg = h.assign(g=g[h["i"].to_numpy()], w=bw)
            hg = hg[hg["g"] >= 0].drop_duplicates(["u", "basket_id", "g"])
            p_g = np.bincount(hg["g"].to_numpy(), minlength=ng) / max(n_baskets, 1)
            c_ug = sp.csr_matrix((hg["w"].to_numpy(np.float32), (hg["u"].to_numpy(), hg["g"].to_numpy())),
                                 shape=(sd.n_users, ng))
            self.parts.append((float(w), g, c_ug, np.maximum(p_g, 1e-9).astype(np.float32), c_u.astype(np.float32)))
        self.seen = seen_matrix(sd)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.broadcast_to(self.log_q, (len(users), len(self.log_q))).astype(np.float32)
        for w, g, c_ug, p_g, c_u in self.parts:
            cu = c_ug[users].toarray()  # (n, n_groups)
            lift = (cu + self.alpha * p_g) / (c_u[users, None] + self.alpha) / p_g
            ok = g >= 0
            out[:, ok] += w * np.log(lift[:, g[ok]])
        return mask_seen(out, self.seen, users)


class NeighbourItems:
    """User-KNN explore scores: the neighbour half of TIFU-KNN (``mean of the k nearest users' TIFU
    vectors``, Hu et al. SIGIR 2020) with the user's own items masked. Parameters as :class:`TifuKnn`."""

    name = "neighbour_items"

    def __init__(self, group_size: int = 7, r_b: float = 0.9, r_g: float = 0.7, k: int = 300) -> None:
        self.knn = TifuKnn(group_size=group_size, r_b=r_b, r_g=r_g, k=k, alpha=0.0)

    def fit(self, sd: StageData) -> "NeighbourItems":
        self.knn.fit(sd)
        self.seen = seen_matrix(sd)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        nb = (self.knn.neighbours(users) @ self.knn.u).toarray() + self.knn.pad
        return mask_seen(nb, self.seen, users)


class RankFusion:
    """Weighted reciprocal rank fusion of ranked lists: ``s(u, i) = sum_g w_g / (c + rank_g(u, i))``
    (Cormack, Clarke & Buettcher, SIGIR 2009), rank 1-based, items absent from a list add nothing.

    Args:
        lists: name -> int ``(len(users), K)`` ranked item codes (``-1`` pads) for the sorted ``users``.
        weights: name -> weight (names not in ``weights`` are ignored).
        n_items: catalogue size. c: the RRF constant (60 in the paper).
    """

    def __init__(self, users: np.ndarray, lists: Mapping[str, np.ndarray], weights: Mapping[str, float],
                 n_items: int, c: float = 60.0) -> None:
        self.users, self.lists, self.weights, self.n_items, self.c = users, lists, dict(weights), n_items, c

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.n_items), np.float32)
        row = np.searchsorted(self.users, users)
        for name, w in self.weights.items():
            if w == 0:
                continue
            items = self.lists[name][row]
            r = np.broadcast_to(np.arange(1, items.shape[1] + 1, dtype=np.float32), items.shape)
            ok = items >= 0
            np.add.at(out, (np.nonzero(ok)[0], items[ok]), w / (self.c + r[ok]))
        out[out == 0] = SEEN_SCORE  # items in no list rank last
        return out


def explore_metrics(lists: np.ndarray, sd: StageData, ks: Sequence[int] = (3, 5, 10, 20)) -> dict[str, float]:
    """Explore recall@k and explore hits per slot of ranked lists of new-to-user items.

    ``explore_recall@k``: mean over users with at least one explore target item (as the report's
    ``explore_recall@20``) of ``|top-k ∩ explore targets| / |explore targets|``; ``hits_per_slot@k``:
    explore hits in the top ``k`` per slot, over the same users.

    Args:
        lists: int ``(len(sd.users), K >= max(ks))`` ranked item codes (``-1`` pads).
    """
    _, exp = sd.repeat_explore()
    has = np.array([len(e) > 0 for e in exp])
    out: dict[str, float] = {"n_users_explore": int(has.sum())}
    for k in ks:
        hits = np.array([np.isin(lists[j, :k], e).sum() for j, e in enumerate(exp)], dtype=float)
        n = np.array([len(e) for e in exp], dtype=float)
        out[f"explore_recall@{k}"] = float(np.mean(hits[has] / n[has]))
        out[f"hits_per_slot@{k}"] = float(np.mean(hits[has]) / k)
    return out


GENERATORS: dict[str, type] = {"neighbour_items": NeighbourItems, "taxonomy_popularity": TaxonomyPopularity}


def explore_lists(sd: StageData, items: pd.DataFrame, weights: Mapping[str, float], *, list_length: int = 50,
                  rrf_c: float = 60.0, params: Mapping[str, Mapping] | None = None) -> dict[str, np.ndarray]:
    """Ranked new-to-user items per evaluated user of ``sd`` from the generators with a non-zero weight,
    and their fusion.

    Args:
        weights: generator name (:data:`GENERATORS`) -> reciprocal-rank-fusion weight (0: not run).
        params: generator name -> constructor keywords.

    Returns:
        name -> int64 ``(len(sd.users), list_length)`` item codes (``-1`` pads) for each generator run, plus
        ``"explore"``: their :class:`RankFusion` (the one list itself when a single generator runs).

    Raises:
        ValueError: no generator has a positive weight, or an unknown generator name.
    """
    from threadpoolctl import threadpool_limits

    from discovery_pipelines.personalization.baselines import top_k

    params = params or {}
    active = {n: w for n, w in weights.items() if w > 0}
    if not active or set(active) - set(GENERATORS):
        raise ValueError(f"explore weights need a positive weight on one of {sorted(GENERATORS)}, got {dict(weights)}")
    out: dict[str, np.ndarray] = {}
    for name in active:
        kw = dict(params.get(name, {}))
        gen = GENERATORS[name](items, **kw) if name == "taxonomy_popularity" else GENERATORS[name](**kw)
        with threadpool_limits(1):
            out[name] = top_k(gen.fit(sd).score, sd.users, list_length)[0]
    if len(active) == 1:
        out["explore"] = out[next(iter(active))]
    else:
        out["explore"] = top_k(RankFusion(sd.users, out, active, sd.n_items, rrf_c).score, sd.users, list_length)[0]
    return out
