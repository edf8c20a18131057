"""Masked exact k-nearest-neighbour search (stage 4; seed 004: "pre-generated masks ... and document
embeddings are stored in GPU memory. For a query ... we perform matrix multiplication to calculate cosine
similarity between the query embedding and the unmasked document embeddings, then pick the top K").

:class:`MaskedExactKNN` holds L2-normalised document embeddings (``float32``, shape ``(n_docs, dim)``)
and boolean masks (``(n_masks, n_docs)``, e.g. the products each store sold) as torch tensors on
``device`` (CUDA when present). One query batch is one matrix multiply ``Q @ E.T`` (cosine, since rows
are unit vectors), masked entries set to ``-inf``, then ``torch.topk``. :func:`faiss_masked_search` does
the same with faiss (``IndexFlatIP`` + ``IDSelectorBatch`` per query, as faiss's filtered search does),
for the speed and identity comparison in the report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class MaskedExactKNN:
    """Exact cosine top-k under per-query boolean masks, in torch.

    Args:
        embeddings: ``(n_docs, dim)`` float32, rows L2-normalised.
        masks: ``(n_masks, n_docs)`` bool (``None`` = one all-true mask).
        device: torch device; default CUDA when available, else CPU.

    Raises:
        ValueError: shapes disagree or embeddings are not 2-D.
    """

    def __init__(self, embeddings: np.ndarray, masks: np.ndarray | None = None, device: str | None = None) -> None:
        import torch

        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n_docs, dim), got shape {embeddings.shape}")
        if masks is None:
            masks = np.ones((1, embeddings.shape[0]), dtype=bool)
        if masks.ndim != 2 or masks.shape[1] != embeddings.shape[0]:
            raise ValueError(f"masks must be (n_masks, {embeddings.shape[0]}), got shape {masks.shape}")
        self.device = _device(device)
        self.emb = torch.as_tensor(np.ascontiguousarray(embeddings, dtype=np.float32), device=self.device)
        self.masks = torch.as_tensor(np.ascontiguousarray(masks, dtype=bool), device=self.device)

    @property
    def n_docs(self) -> int:
        return int(self.emb.shape[0])

    def search(self, queries: np.ndarray, mask_ids: Sequence[int] | np.ndarray | None = None, k: int = 10,
               extra_mask: np.ndarray | None = None, offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` per query: ``(scores float32 (n_q, k), doc indices int64 (n_q, k))``.

        ``mask_ids[i]`` picks the stored mask row of query ``i`` (``None``: no stored mask); ``extra_mask`` (``(n_q, n_docs)``
        bool) is AND-ed in (e.g. a metadata filter); ``offset`` (``(n_q, n_docs)`` float) is added to the
        cosine before top-k (e.g. a penalty per metadata rank), so returned scores include it. Slots beyond
        the unmasked count get score ``-inf`` and index ``-1``.
        """
        import torch

        q = torch.as_tensor(np.ascontiguousarray(queries, dtype=np.float32), device=self.device)
        if q.ndim == 1:
            q = q[None, :]
        with torch.inference_mode():
            scores = q @ self.emb.T
            if offset is not None:
                scores = scores + torch.as_tensor(np.asarray(offset, dtype=np.float32), device=self.device)
            m = None
            if mask_ids is not None:
                m = self.masks[torch.as_tensor(np.asarray(mask_ids, dtype=np.int64), device=self.device)]
            if extra_mask is not None:
                e = torch.as_tensor(np.asarray(extra_mask, dtype=bool), device=self.device)
                m = e if m is None else m & e
            if m is not None:
                scores = scores.masked_fill(~m, float("-inf"))
            kk = min(k, self.n_docs)
            top = torch.topk(scores, kk, dim=1)
        s = top.values.float().cpu().numpy()
        idx = top.indices.cpu().numpy().astype(np.int64)
        idx[~np.isfinite(s)] = -1
        return s, idx

    def best_per_mask(self, query: np.ndarray, mask_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """For one query, the best document inside each of ``mask_ids`` (seed: the best dish within each
        retrieved store): ``(scores (m,), doc indices (m,))``, ``-1`` where a mask is empty."""
        import torch

        q = torch.as_tensor(np.asarray(query, dtype=np.float32).reshape(1, -1), device=self.device)
        ids = torch.as_tensor(np.asarray(mask_ids, dtype=np.int64), device=self.device)
        with torch.inference_mode():
            s = (q @ self.emb.T).expand(len(mask_ids), -1).masked_fill(~self.masks[ids], float("-inf"))
            v, i = s.max(dim=1)
        v_np, i_np = v.float().cpu().numpy(), i.cpu().numpy().astype(np.int64)
        i_np[~np.isfinite(v_np)] = -1
        return v_np, i_np


def faiss_masked_search(embeddings: np.ndarray, queries: np.ndarray, allowed: Sequence[np.ndarray], k: int = 10,
                        index: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as :meth:`MaskedExactKNN.search`, with faiss ``IndexFlatIP`` and one
    ``IDSelectorBatch`` (the allowed doc indices) per query via ``SearchParameters(sel=...)``."""
    import faiss

    if index is None:
        index = faiss.IndexFlatIP(embeddings.shape[1])
        index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    q = np.ascontiguousarray(queries, dtype=np.float32)
    S = np.full((len(q), k), -np.inf, dtype=np.float32)
    I = np.full((len(q), k), -1, dtype=np.int64)
    for i in range(len(q)):
        ids = np.asarray(allowed[i], dtype=np.int64)
        sel = faiss.IDSelectorBatch(ids)
        d, j = index.search(q[i:i + 1], k, params=faiss.SearchParameters(sel=sel))
        ok = j[0] >= 0
        S[i, : ok.sum()] = d[0][ok]
        I[i, : ok.sum()] = j[0][ok]
    return S, I


def compare_with_faiss(knn: MaskedExactKNN, embeddings: np.ndarray, queries: np.ndarray, mask_ids: np.ndarray,
                       masks: np.ndarray, k: int = 10, repeats: int = 3) -> dict[str, Any]:
    """Timings (ms per query, best of ``repeats``) and identity of torch vs faiss masked top-k.

    Identity: share of queries with the same top-k index set, and max absolute score difference.
    """
    import faiss

    allowed = [np.flatnonzero(masks[m]) for m in mask_ids]
    index = faiss.IndexFlatIP(embeddings.shape[1])
    index.add(np.ascontiguousarray(embeddings, dtype=np.float32))

    def best(fn):
        times, out = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times) * 1000 / max(1, len(queries)), out

    t_torch_batch, (s_t, i_t) = best(lambda: knn.search(queries, mask_ids, k))
    t_torch_one, _ = best(lambda: [knn.search(queries[i:i + 1], mask_ids[i:i + 1], k) for i in range(len(queries))])
    t_faiss, (s_f, i_f) = best(lambda: faiss_masked_search(embeddings, queries, allowed, k, index=index))
    same = [set(a[a >= 0]) == set(b[b >= 0]) for a, b in zip(i_t, i_f)]
    fin = np.isfinite(s_t) & np.isfinite(s_f)
    return {"n_queries": int(len(queries)), "n_docs": int(embeddings.shape[0]), "k": int(k), "device": knn.device,
            "torch_batched_ms_per_query": round(t_torch_batch, 4), "torch_one_by_one_ms_per_query": round(t_torch_one, 4),
            "faiss_idselector_ms_per_query": round(t_faiss, 4), "identical_topk_share": float(np.mean(same)),
            "max_abs_score_diff": float(np.abs(s_t[fin] - s_f[fin]).max()) if fin.any() else 0.0}
