"""First-stage retrievers over a product catalogue: BM25 (bm25s), dense (exact inner product) and
hybrid by reciprocal rank fusion.

All return ``(ids, scores)``: ``ids`` an object array ``(n_queries, k)`` of product ids (``None``
padding when the catalogue has fewer than k), ``scores`` float32 ``(n_queries, k)`` descending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import logging

import numpy as np

# bm25s logs one INFO line per stop-word-only query ("The query is empty"); those rows are simply empty.
logging.getLogger("bm25s").setLevel(logging.WARNING)

Run = tuple[np.ndarray, np.ndarray]


class BM25Retriever:
    """Okapi BM25 (Robertson & Zaragoza 2009) via ``bm25s`` with English stop words and Snowball
    stemming (PyStemmer). ``k1``/``b`` default to 1.5/0.75 (bm25s' Lucene variant)."""

    def __init__(self, texts: Sequence[str], ids: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s
        import Stemmer

        self.ids = np.asarray(list(ids), dtype=object)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)
        self._bm25.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int = 100, mask: np.ndarray | None = None) -> Run:
        """Top-``k`` products per query. Queries with no known token get empty (None, 0.0) rows.

        ``mask``: optional bool ``(n_docs,)``; False products score 0 and are never returned.
        """
        import bm25s

        k = min(k, len(self.ids))
        toks = bm25s.tokenize(list(queries), stopwords="en", stemmer=self._stemmer, show_progress=False)
        weight_mask = None if mask is None else np.asarray(mask, dtype=np.float32)
        docs, scores = self._bm25.retrieve(toks, k=k, show_progress=False, n_threads=1, weight_mask=weight_mask)
        ids = self.ids[docs].astype(object)
        ids[scores <= 0] = None
        return ids, scores.astype(np.float32)


def masked_top_k(queries: Any, docs: Any, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner products ``queries @ docs.T`` per query row, masked documents excluded.

    Args:
        queries: float32 torch tensor ``(nq, d)``; docs: float32 torch tensor ``(nd, d)`` on the same device.
        k: results per query (capped at ``nd``).
        mask: optional bool numpy ``(nd,)`` or ``(nq, nd)``: False documents get score ``-inf``.

    Returns:
        ``(positions int64 (nq, k'), scores float32 (nq, k'))`` numpy, best first, ``k' = min(k, nd)``; a masked
        document can only appear with score ``-inf`` (when fewer than ``k'`` pass the mask).
    """
    import torch

    sc = queries @ docs.T
    if mask is not None:
        sc = sc.masked_fill(~torch.from_numpy(np.asarray(mask, dtype=bool)).to(sc.device), float("-inf"))
    top = torch.topk(sc, min(int(k), docs.shape[0]), dim=1)
    return top.indices.cpu().numpy().astype(np.int64), top.values.cpu().numpy().astype(np.float32)


def dense_search(query_emb: np.ndarray, doc_emb: np.ndarray, ids: Sequence[str], k: int = 100,
                 mask: np.ndarray | None = None, batch: int = 1024) -> Run:
    """Exact maximum-inner-product search (cosine for normalised vectors) with torch matmul + topk
    (:func:`masked_top_k`), ``batch`` queries at a time.

    Args:
        query_emb: float32 ``(nq, d)``; doc_emb: float32 ``(nd, d)``.
        mask: optional bool ``(nd,)`` or ``(nq, nd)``: False products are excluded (score -inf, id None).
    """
    import torch

    ids_arr = np.asarray(list(ids), dtype=object)
    k = min(k, len(ids_arr))
    d = torch.from_numpy(np.ascontiguousarray(doc_emb, dtype=np.float32))
    out_i, out_s = [], []
    for s in range(0, len(query_emb), batch):
        q = torch.from_numpy(np.ascontiguousarray(query_emb[s:s + batch], dtype=np.float32))
        m = None if mask is None else (mask if mask.ndim == 1 else mask[s:s + batch])
        i, sc = masked_top_k(q, d, k, m)
        out_i.append(i)
        out_s.append(sc)
    idx = np.concatenate(out_i) if out_i else np.zeros((0, k), dtype=np.int64)
    scores = np.concatenate(out_s) if out_s else np.zeros((0, k), dtype=np.float32)
    res = ids_arr[idx].astype(object)
    res[~np.isfinite(scores)] = None
    return res, scores.astype(np.float32)


def rrf(runs: Mapping[str, Run], weights: Mapping[str, float] | None = None, k: int = 100, c: float = 60.0) -> Run:
    """Weighted reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009):
    score(d) = sum_r w_r / (c + rank_r(d)), ranks 1-based; products absent from a run add nothing."""
    def reciprocal_ranks(ids: np.ndarray, _scores: np.ndarray):
        return ((pid, 1.0 / (c + rank + 1)) for rank, pid in enumerate(ids) if pid is not None)

    return fuse_runs(runs, reciprocal_ranks, weights, k)


def fuse_runs(runs: Mapping[str, Run], contribution, weights: Mapping[str, float] | None = None,
              k: int = 100) -> Run:
    """Generic linear fusion: ``score(d) = sum_r w_r * v_r(d)`` where ``contribution(ids_row, scores_row)``
    yields ``(product_id, v_r(d))`` for one query of run ``r`` (RRF, normalised-score sums ...). A run
    whose scores are ``None`` (ranks only) passes NaN scores to ``contribution``."""
    weights = weights or {}
    names = list(runs)
    accs = []
    for qi in range(len(runs[names[0]][0])):
        acc: dict[str, float] = {}
        for name in names:
            w = float(weights.get(name, 1.0))
            ids, scores = runs[name]
            row_scores = scores[qi] if scores is not None else np.full(len(ids[qi]), np.nan)
            for pid, v in contribution(ids[qi], row_scores):
                acc[pid] = acc.get(pid, 0.0) + w * float(v)
        accs.append(acc)
    return top_k_of_scores(accs, k)


def top_k_of_scores(per_query: Sequence[Mapping[str, float]], k: int) -> Run:
    """A run from one ``{product_id: fused score}`` per query: the ``k`` highest, descending (ties keep
    the mapping's insertion order), ``None`` / 0.0 padding."""
    out_ids = np.full((len(per_query), k), None, dtype=object)
    out_sc = np.zeros((len(per_query), k), dtype=np.float32)
    for qi, acc in enumerate(per_query):
        for j, (pid, s) in enumerate(sorted(acc.items(), key=lambda kv: -kv[1])[:k]):
            out_ids[qi, j] = pid
            out_sc[qi, j] = s
    return out_ids, out_sc


def run_to_dict(query_ids: Sequence[str], run: Run) -> dict[str, list[str]]:
    """``{query_id: [product_id, ...]}`` from a run, dropping padding."""
    return {str(q): [p for p in row if p is not None] for q, row in zip(query_ids, run[0])}
