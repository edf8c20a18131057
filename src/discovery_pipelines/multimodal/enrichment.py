"""Photo-inferred text for listings that have no title (predicted-attribute enrichment).

A listing without a title still carries the text its photo implies. The product tower scores the photo vector
``u`` against every class prototype ``k_c`` and keeps the posterior over the ``K`` best classes

    p(c | photo) = softmax_c( s * u . k_c )        over the top-K classes, 0 elsewhere

(``s`` the tower's learned logit scale, so the temperature is the one the contrastive loss calibrated). The
class texts' projected vectors ``t_c`` weighted by it give the inferred text vector

    t_hat = normalise( sum_c p(c | photo) t_c )

which is fused with the photo exactly as a real title is (:func:`towers.fuse`): ``v = normalise(a u + (1-a) t_hat)``.
A query vector ``q`` then scores ``q . v`` proportional to ``a q.u + (1-a) sum_c p_c q.t_c``: the photo's own
similarity plus the query's *expected* similarity to the listing's unknown class text, i.e. ranking by expected
relevance under the classifier's posterior (the probability ranking principle, Robertson 1977). Only the photo
is read: no title, description or label of the listing.

Class prototypes: ``k_c = normalise(t_c + beta * m_c)`` with ``m_c`` the mean train-split photo vector of class
``c``. ``beta = 0`` is CLIP's zero-shot classifier (the class texts alone, Radford et al. 2021); ``beta > 0`` adds
the class's photo prototype (Snell et al. 2017, "Prototypical Networks") in the same space. Classes without a
train photo keep their text vector.
"""

from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def class_prototypes(text_vecs: np.ndarray, photo_vecs: np.ndarray, labels: np.ndarray, beta: float) -> np.ndarray:
    """Class prototypes ``(C, d)`` float32, L2-normalised (module doc).

    Args:
        text_vecs: ``(C, d)`` L2-normalised projected class-text vectors (row ``c`` = class ``c``).
        photo_vecs: ``(N, d)`` L2-normalised photo vectors of **train** listings only.
        labels: int ``(N,)`` class of each photo, in ``0..C-1``.
        beta: weight of the class's mean photo vector (``>= 0``; 0 returns the text vectors).

    Raises:
        ValueError: shapes disagree, a label is out of range or ``beta < 0``.
    """
    text_vecs = np.asarray(text_vecs, np.float32)
    photo_vecs = np.asarray(photo_vecs, np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if beta < 0:
        raise ValueError(f"class_prototypes: beta must be >= 0, got {beta}")
    if photo_vecs.ndim != 2 or photo_vecs.shape[1] != text_vecs.shape[1] or len(labels) != len(photo_vecs):
        raise ValueError(f"class_prototypes: shapes {text_vecs.shape}, {photo_vecs.shape}, {labels.shape} disagree")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(text_vecs)):
        raise ValueError(f"class_prototypes: labels must be in 0..{len(text_vecs) - 1}")
    if beta == 0 or not len(labels):
        return _normalise(text_vecs)
    sums = np.zeros_like(text_vecs)
    np.add.at(sums, labels, photo_vecs)
    counts = np.bincount(labels, minlength=len(text_vecs)).astype(np.float32)[:, None]
    means = np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.0)
    return _normalise(text_vecs + beta * _normalise(means) * (counts > 0))


def class_posterior(photo_vecs: np.ndarray, prototypes: np.ndarray, scale: float, top_k: int) -> np.ndarray:
    """``p(c | photo)``: ``(N, C)`` float32, each row a softmax of ``scale * photo . prototype`` over its
    ``top_k`` best classes (zero elsewhere; rows sum to 1).

    Raises:
        ValueError: ``top_k < 1``, ``scale <= 0`` or the dimensions differ.
    """
    if top_k < 1 or scale <= 0:
        raise ValueError(f"class_posterior: top_k must be >= 1 and scale > 0 (got {top_k}, {scale})")
    if photo_vecs.shape[1] != prototypes.shape[1]:
        raise ValueError(f"class_posterior: dims {photo_vecs.shape[1]} and {prototypes.shape[1]} differ")
    logits = float(scale) * (np.asarray(photo_vecs, np.float32) @ np.asarray(prototypes, np.float32).T)
    k = min(int(top_k), logits.shape[1])
    keep = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(logits, keep, axis=1)
    w = np.exp(top - top.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    out = np.zeros_like(logits, dtype=np.float32)
    np.put_along_axis(out, keep, w.astype(np.float32), axis=1)
    return out


def inferred_text_vectors(posterior: np.ndarray, text_vecs: np.ndarray) -> np.ndarray:
    """``t_hat = normalise(posterior @ text_vecs)``: ``(N, d)`` float32 (module doc).

    Raises:
        ValueError: ``posterior`` has not one column per class text.
    """
    if posterior.shape[1] != text_vecs.shape[0]:
        raise ValueError(f"inferred_text_vectors: {posterior.shape[1]} classes vs {text_vecs.shape[0]} class texts")
    return _normalise(np.asarray(posterior, np.float32) @ np.asarray(text_vecs, np.float32))
