"""Semantic IDs: residual quantisation of item embeddings into short discrete codes (Rajput et al.,
"Recommender Systems with Generative Retrieval", NeurIPS 2023 — there with an RQ-VAE; here with faiss's
``ResidualQuantizer``, i.e. residual k-means, Juang & Gray 1982 / Chen et al. 2010).

Each item gets ``levels`` codes of ``2**bits`` values: level 1 is the nearest centroid, level 2 the
nearest centroid of the residual, and so on. Items with the same codes (e.g. identical titles) get a
collision suffix (0, 1, 2, ... in item-code order), so ``(c1, ..., c_L, suffix)`` is unique.

Statistics: collision rate (share of items whose L-level code is shared), codes used per level,
and the NMI of the first level against departments next to plain k-means with the same number of
clusters (Strehl & Ghosh 2002, arithmetic normalisation as in scikit-learn).

Cold items (few purchases) have poorly trained id embeddings; :func:`prefix_vectors` gives each one the
mean two-tower vector of the warm items sharing its longest code prefix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def residual_codes(emb: np.ndarray, levels: int = 3, bits: int = 8, seed: int = 0,
                   max_train: int = 50_000) -> np.ndarray:
    """int64 ``(n, levels)`` residual-quantiser codes of float32 ``(n, d)`` embeddings.

    Trained on the distinct rows (at most ``max_train``, sampled with ``seed``).

    Raises:
        ValueError: fewer distinct rows than ``2**bits`` centroids.
    """
    import faiss

    x = np.ascontiguousarray(emb, dtype=np.float32)
    uniq = np.unique(x, axis=0)
    if len(uniq) < 2 ** bits:
        raise ValueError(f"{len(uniq)} distinct embeddings cannot train {2 ** bits} centroids per level")
    if len(uniq) > max_train:
        uniq = uniq[np.random.default_rng(seed).choice(len(uniq), max_train, replace=False)]
    rq = faiss.ResidualQuantizer(x.shape[1], levels, bits)
    rq.verbose = False
    rq.train(np.ascontiguousarray(uniq))
    packed = rq.compute_codes(x)
    if bits == 8:
        return packed[:, :levels].astype(np.int64)
    out = np.zeros((len(x), levels), np.int64)
    for r in range(len(x)):
        bs = faiss.BitstringReader(faiss.swig_ptr(packed[r]), packed.shape[1])
        out[r] = [bs.read(bits) for _ in range(levels)]
    return out


def with_collision_suffix(codes: np.ndarray) -> np.ndarray:
    """Append a suffix column: the item's rank among items with identical codes (0 when unique)."""
    df = pd.DataFrame(codes)
    suffix = df.groupby(list(df.columns), sort=False).cumcount().to_numpy()
    return np.column_stack([codes, suffix]).astype(np.int64)


def code_strings(codes: np.ndarray) -> list[str]:
    """``"c1-c2-c3-s"`` strings of suffixed codes."""
    return ["-".join(map(str, r)) for r in codes]


def semantic_id_stats(codes: np.ndarray, departments: np.ndarray, emb: np.ndarray, bits: int = 8,
                      seed: int = 0) -> dict[str, float]:
    """Collision rate, code usage per level, max suffix and NMI(level 1, department) vs k-means.

    Args:
        codes: ``(n, levels)`` codes *without* the suffix.
        departments: ``(n,)`` department labels.
        emb: the embeddings the codes quantise (k-means baseline with ``2**bits`` clusters).
    """
    import faiss
    from sklearn.metrics import normalized_mutual_info_score

    df = pd.DataFrame(codes)
    group = df.groupby(list(df.columns), sort=False)[0].transform("size").to_numpy()
    levels = codes.shape[1]
    k = 2 ** bits
    km = faiss.Kmeans(emb.shape[1], k, niter=20, seed=seed, verbose=False)
    x = np.ascontiguousarray(emb, dtype=np.float32)
    uniq = np.unique(x, axis=0)
    km.train(uniq)
    _, km_labels = km.index.search(x, 1)
    out: dict[str, float] = {
        "n_items": int(len(codes)),
        "levels": levels,
        "codebook_size": k,
        "collision_rate": float((group > 1).mean()),
        "distinct_codes": int(len(df.drop_duplicates())),
        "max_suffix": int(group.max() - 1),
        "nmi_level1_vs_department": float(normalized_mutual_info_score(departments, codes[:, 0])),
        "nmi_kmeans_vs_department": float(normalized_mutual_info_score(departments, km_labels[:, 0])),
    }
    for lv in range(levels):
        out[f"codes_used_level{lv + 1}"] = int(np.unique(codes[:, lv]).size)
        prefix = pd.DataFrame(codes[:, : lv + 1]).drop_duplicates()
        out[f"distinct_prefixes_level{lv + 1}"] = int(len(prefix))
    return out


def prefix_vectors(vectors: np.ndarray, codes: np.ndarray, warm: np.ndarray, cold: np.ndarray,
                   min_prefix: int = 1) -> tuple[np.ndarray, dict[str, int]]:
    """Replace the vectors of ``cold`` items by the mean vector of warm items sharing their longest prefix.

    Args:
        vectors: float32 ``(n, d)`` item vectors (e.g. two-tower item tower output).
        codes: ``(n, levels)`` semantic-ID codes (no suffix).
        warm, cold: boolean ``(n,)`` masks; warm items donate, cold items receive.
        min_prefix: shortest prefix used; a cold item without a warm item sharing even that keeps its vector.

    Returns:
        ``(new L2-normalised vectors, counts of cold items served per prefix length)``.
    """
    out = vectors.copy()
    todo = cold.copy()
    served: dict[str, int] = {}
    base = int(codes.max()) + 1
    for plen in range(codes.shape[1], min_prefix - 1, -1):
        key = np.zeros(len(codes), np.int64)
        for lv in range(plen):
            key = key * base + codes[:, lv]
        dfw = pd.DataFrame(vectors[warm]).groupby(key[warm]).mean()
        if dfw.empty:
            continue
        idx = np.flatnonzero(todo)
        pos = np.searchsorted(dfw.index.to_numpy(), key[idx])
        pos_c = np.minimum(pos, len(dfw) - 1)
        ok = dfw.index.to_numpy()[pos_c] == key[idx]
        out[idx[ok]] = dfw.to_numpy()[pos_c[ok]]
        todo[idx[ok]] = False
        served[f"prefix_len_{plen}"] = int(ok.sum())
    served["unserved"] = int(todo.sum())
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32), served
