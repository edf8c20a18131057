"""Carousel retrieval (stage 4): title + metadata -> items (and, where the source has stores, stores and
the best item within each store), by masked exact KNN (:mod:`discovery_pipelines.carousels.knn`).

* Query text: ``"<title> | category: ... | product_type: ..."`` (seed 004: "the carousel title and
  metadata ... are concatenated into text and converted into embeddings"), encoded with the project's
  text model through :func:`discovery_pipelines.search.embeddings.encode` (on-disk cache).
* Masks: on completejourney the products each store sold; a user's carousel may only show products of
  the stores that user shops in ("deliverable stores"). With ``metadata_filter`` the metadata's
  categories / product types are AND-ed in, so the embedding ranks inside the topic.
* Ordered metadata: a metadata list names its most relevant category first; with ``rank_penalty``
  ``delta``, an item of the r-th listed category (0-based) scores ``cos - delta * r``, so a second or
  third category only fills the candidates when its items are clearly closer to the carousel.
* Two levels on sources with stores: stores for the carousel (store profile embeddings, masked to the
  user's stores), then the best item within each of them (:meth:`MaskedExactKNN.best_per_mask`).

:func:`expand_metadata` is the rules counterpart of the LLM's metadata: the catalogue categories nearest
to a title in embedding space (within ``margin`` of the best one, at most ``max_n``, best first), each
category represented by its name and, when given, by the centroid of its items' embeddings
(:func:`category_centroids`: a prototype of what the category holds, which its abbreviated name may not
say; Snell et al. 2017, prototypical networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.carousels.catalogue import Catalogue, pretty
from discovery_pipelines.carousels.knn import MaskedExactKNN
from discovery_pipelines.carousels.schema import CarouselMetadata
from discovery_pipelines.search.embeddings import group_centroids


def query_text(title: str, meta: CarouselMetadata) -> str:
    """The text embedded for a carousel: title, then its metadata line."""
    m = meta.text()
    return f"{title} | {m}" if m else title


def category_texts(categories: Sequence[str], dept_of: dict[str, str]) -> list[str]:
    """Readable ``"<category> (<department>)"`` strings for embedding the category tree."""
    return [f"{pretty(c)} ({pretty(dept_of.get(c, ''))})" for c in categories]


def category_centroids(item_emb: np.ndarray, item_category: Sequence[str | None], categories: Sequence[str]
                       ) -> np.ndarray:
    """``(n_categories, d)`` float32: the L2-normalised mean embedding of each category's items (rows of
    ``item_emb`` (n_items, d), unit vectors; ``item_category[i]`` the category of item ``i``); a zero row for
    a category without items."""
    pos = {c: i for i, c in enumerate(categories)}
    idx = np.array([pos.get(c, -1) if c is not None else -1 for c in item_category], dtype=np.int64)
    return group_centroids(item_emb, idx, len(categories))


def expand_metadata(title_emb: np.ndarray, categories: Sequence[str], cat_emb: np.ndarray, dept_of: dict[str, str],
                    max_n: int = 3, margin: float = 0.06, centroids: np.ndarray | None = None
                    ) -> list[CarouselMetadata]:
    """Metadata per title from the nearest categories (see module doc), best first. ``title_emb`` (n, d),
    ``cat_emb`` (n_categories, d) embeddings of the category names, ``centroids`` (n_categories, d) of their
    items (:func:`category_centroids`), all L2-normalised; with ``centroids`` a category scores the mean
    of its name's and its centroid's cosine to the title."""
    sims = title_emb @ cat_emb.T
    if centroids is not None:
        sims = 0.5 * sims + 0.5 * (title_emb @ centroids.T)
    out = []
    for row in sims:
        order = np.argsort(-row)[:max_n]
        keep = [categories[i] for i in order if row[i] >= row[order[0]] - margin]
        out.append(CarouselMetadata(department=sorted({dept_of[c] for c in keep if c in dept_of}), category=keep))
    return out


def retrieve(knn: MaskedExactKNN, catalogue: Catalogue, query_emb: np.ndarray, metas: Sequence[CarouselMetadata],
             allowed: Sequence[np.ndarray | None], n_candidates: int = 50, metadata_filter: bool = True,
             batch: int = 256, rank_penalty: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Masked top-``n_candidates`` per carousel: ``(similarities (n, c), item indices (n, c))``, -1 padded.

    ``allowed[i]``: bool (n_items,) availability of query ``i`` (``None`` = all items). ``rank_penalty``:
    with the metadata filter, ``delta`` subtracted per rank of an item's category in the metadata list
    (see module doc); returned similarities are the plain cosines.
    """
    S = np.full((len(query_emb), n_candidates), -np.inf, dtype=np.float32)
    I = np.full((len(query_emb), n_candidates), -1, dtype=np.int64)
    memo: dict[tuple, np.ndarray] = {}
    pen_memo: dict[tuple, np.ndarray] = {}
    item_cat = catalogue.items["category"].to_numpy()
    for start in range(0, len(query_emb), batch):
        sl = slice(start, start + batch)
        extra = np.ones((len(query_emb[sl]), catalogue.items.shape[0]), dtype=bool)
        offset = np.zeros(extra.shape, dtype=np.float32) if metadata_filter and rank_penalty else None
        for j, i in enumerate(range(start, min(start + batch, len(query_emb)))):
            if allowed[i] is not None:
                extra[j] &= allowed[i]
            if metadata_filter:
                key = (tuple(metas[i].category), tuple(metas[i].product_type))
                if key not in memo:
                    memo[key] = catalogue.metadata_mask(metas[i].category, metas[i].product_type)
                mm = memo[key]
                if (extra[j] & mm).any():  # a filter that leaves nothing falls back to the embedding alone
                    extra[j] &= mm
                if offset is not None and len(metas[i].category) > 1:
                    if key not in pen_memo:
                        rank = {c: r for r, c in enumerate(metas[i].category)}
                        pen_memo[key] = np.array([rank.get(c, 0) for c in item_cat], dtype=np.float32) * rank_penalty
                    offset[j] -= pen_memo[key]
        s, idx = knn.search(query_emb[sl], None, k=n_candidates, extra_mask=extra, offset=offset)
        if offset is not None:  # report the plain cosine (the penalty only decides membership and order)
            s = np.where(idx >= 0, s + np.take_along_axis(-offset, np.maximum(idx, 0), axis=1), s)
        S[sl, : s.shape[1]] = s
        I[sl, : idx.shape[1]] = idx
    return S, I


def user_store_masks(history: pd.DataFrame, catalogue: Catalogue) -> dict[str, np.ndarray]:
    """Per user, the stores they bought in as indices into ``catalogue.store_ids`` (empty if no stores)."""
    if not catalogue.has_stores:
        return {}
    pos = {s: i for i, s in enumerate(catalogue.store_ids or [])}
    us = history.loc[history["store_id"].notna(), ["user_id", "store_id"]].drop_duplicates()
    out: dict[str, list[int]] = {}
    for u, s in zip(us["user_id"].astype(str), us["store_id"].astype(str)):
        if s in pos:
            out.setdefault(u, []).append(pos[s])
    return {u: np.asarray(sorted(v), dtype=np.int64) for u, v in out.items()}


def store_level(store_knn: MaskedExactKNN, item_knn: MaskedExactKNN, query_emb: np.ndarray,
                user_stores: Sequence[np.ndarray], n_stores: int = 5) -> list[list[tuple[int, float, int, float]]]:
    """Per carousel: up to ``n_stores`` ``(store index, store similarity, best item index, item similarity)``.

    Stores are masked to the user's own stores (``user_stores[i]``); an unknown store set (empty) gives an
    empty list, counted by the caller.
    """
    n_st = store_knn.n_docs
    out = []
    for q, stores in zip(query_emb, user_stores):
        if stores is None or len(stores) == 0:
            out.append([])
            continue
        m = np.zeros((1, n_st), dtype=bool)
        m[0, stores] = True
        s, idx = store_knn.search(q[None, :], None, k=min(n_stores, len(stores)), extra_mask=m)
        picked = [(int(i), float(v)) for i, v in zip(idx[0], s[0]) if i >= 0]
        if not picked:
            out.append([])
            continue
        bv, bi = item_knn.best_per_mask(q, [i for i, _ in picked])
        out.append([(si, sv, int(ii), float(iv)) for (si, sv), ii, iv in zip(picked, bi, bv)])
    return out


def describe_device(knn: MaskedExactKNN) -> dict[str, Any]:
    """Device and memory of the KNN tensors (MiB)."""
    return {"device": knn.device, "embeddings_mib": round(knn.emb.numel() * 4 / 2**20, 2),
            "masks_mib": round(knn.masks.numel() / 2**20, 2)}
