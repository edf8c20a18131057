"""Embedding clustering of queries the rule taxonomy does not name, and cluster naming.

K-means (Lloyd 1982; scikit-learn ``KMeans`` with k-means++ seeding, Arthur & Vassilvitskii 2007)
on L2-normalised sentence embeddings (so Euclidean k-means approximates spherical k-means on
cosine). Clusters are named by class-based TF-IDF top terms (c-TF-IDF, Grootendorst 2022,
BERTopic) or, when a namer is given, by an LLM looking at the top terms and example queries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from discovery_pipelines.failure_analysis.lexicon import content_tokens

ClusterNamer = Callable[[list[str], list[str]], str | None]
"""``namer(top_terms, example_queries) -> short name or None`` (e.g. an LLM call)."""


def fit_clusters(embeddings: np.ndarray, n_clusters: int, *, min_cluster_size: int = 5,
                 random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K-means on ``embeddings`` (float32 ``(n, d)``, L2-normalised).

    The number of clusters is ``min(n_clusters, n // min_cluster_size)`` (at least 1).

    Returns:
        ``(labels int64 (n,), centroids float32 (k, d))``; empty arrays when ``n == 0``.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, embeddings.shape[1] if embeddings.ndim == 2 else 0),
                                                    dtype=np.float32)
    k = max(1, min(n_clusters, n // max(1, min_cluster_size)))
    if k == 1:
        return np.zeros(n, dtype=np.int64), embeddings.mean(axis=0, keepdims=True).astype(np.float32)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(embeddings)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)


def assign_nearest(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) for each row; int64 ``(n,)``."""
    if len(embeddings) == 0 or len(centroids) == 0:
        return np.zeros(len(embeddings), dtype=np.int64)
    d = (embeddings ** 2).sum(1, keepdims=True) - 2 * embeddings @ centroids.T + (centroids ** 2).sum(1)[None]
    return d.argmin(axis=1).astype(np.int64)


def ctfidf_terms(texts: Sequence[str], labels: Sequence[int], top_n: int = 3) -> dict[int, list[str]]:
    """Top ``top_n`` terms per cluster by c-TF-IDF: tf(t, c) * log(1 + A / f(t)), with A the average
    number of tokens per cluster and f(t) the frequency of t over all clusters (Grootendorst 2022)."""
    per: dict[int, Counter] = {}
    for text, lab in zip(texts, labels):
        per.setdefault(int(lab), Counter()).update(t for t in content_tokens(text) if re.search(r"[^\W\d_]", t))
    total: Counter = Counter()
    for c in per.values():
        total.update(c)
    avg = sum(sum(c.values()) for c in per.values()) / max(1, len(per))
    out = {}
    for lab, c in per.items():
        n = sum(c.values()) or 1
        scored = sorted(c, key=lambda t: (-(c[t] / n) * math.log(1 + avg / total[t]), t))
        out[lab] = scored[:top_n]
    return out


def cluster_names(texts: Sequence[str], labels: Sequence[int], *, top_n: int = 2,
                  namer: ClusterNamer | None = None, examples: int = 8) -> dict[int, str]:
    """Group id per cluster label: ``cluster:<name>``, name from ``namer`` when it answers, else
    the c-TF-IDF top terms joined by ``-``. Names are made unique by a numeric suffix."""
    terms = ctfidf_terms(texts, labels, top_n=max(top_n, 5))
    names: dict[int, str] = {}
    used: set[str] = set()
    for lab in sorted(terms):
        name = None
        if namer is not None:
            ex = [t for t, lb in zip(texts, labels) if lb == lab][:examples]
            raw = namer(terms[lab], ex)
            if raw:
                name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")[:40] or None
        name = name or "-".join(terms[lab][:top_n]) or f"c{lab}"
        base, i = name, 2
        while name in used:
            name, i = f"{base}-{i}", i + 1
        used.add(name)
        names[lab] = f"cluster:{name}"
    return names
