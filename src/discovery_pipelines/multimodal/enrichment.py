"""Photo-inferred text for listings that have no title (predicted-attribute enrichment).

A listing without a title still carries the text its photo implies. The product tower scores the photo vector
``u`` against every class prototype ``k_c`` and keeps the posterior over the ``K`` best classes

    p(c | photo) = softmax_c( s * u . k_c )        over the top-K classes, 0 elsewhere

(``s`` the tower's learned logit scale times a multiple chosen on the val photos, below). The
class texts' projected vectors ``t_c`` weighted by it give the inferred text vector

    t_hat = normalise( sum_c p(c | photo) t_c )

which is fused with the photo exactly as a real title is (:func:`towers.fuse`): ``v = normalise(a u + (1-a) t_hat)``.
A query vector ``q`` then scores ``q . v`` proportional to ``a q.u + (1-a) sum_c p_c q.t_c``: the photo's own
similarity plus the query's *expected* similarity to the listing's unknown class text, i.e. ranking by expected
relevance under the classifier's posterior (the probability ranking principle, Robertson 1977). Only the photo
is read: no title, description or label of the listing.

The posterior's temperature is calibrated on held-out (val) photos by temperature scaling (Guo et al. 2017, "On
Calibration of Modern Neural Networks"): the multiple of the tower's logit scale with the lowest negative
log-likelihood of the true class under the full softmax. The same posterior also gives a caption vector in the
frozen text model's own space, ``sum_c p_c e_c`` (``e_c`` the normalised text-model embedding of class text ``c``),
which the plain text model searches by expected similarity (:func:`expected_text_vectors`).

Class prototypes: ``k_c = normalise(t_c + beta * m_c)`` with ``m_c`` the mean train-split photo vector of class
``c``. ``beta = 0`` is CLIP's zero-shot classifier (the class texts alone, Radford et al. 2021); ``beta > 0`` adds
the class's photo prototype (Snell et al. 2017, "Prototypical Networks") in the same space. Classes without a
train photo keep their text vector.
"""

from __future__ import annotations

import numpy as np

from discovery_pipelines.multimodal.training import topk_classes
from discovery_pipelines.search.embeddings import group_centroids


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
    # a class without train photos has a zero centroid, so it keeps its text vector
    return _normalise(text_vecs + beta * group_centroids(photo_vecs, labels, len(text_vecs)))


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
    keep = topk_classes(logits, int(top_k))
    top = np.take_along_axis(logits, keep, axis=1)
    w = np.exp(top - top.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    out = np.zeros_like(logits, dtype=np.float32)
    np.put_along_axis(out, keep, w.astype(np.float32), axis=1)
    return out


def expected_text_vectors(posterior: np.ndarray, text_vecs: np.ndarray) -> np.ndarray:
    """``posterior @ text_vecs``, **not** renormalised: ``(N, d)`` float32.

    For L2-normalised class vectors ``e_c`` and a query vector ``q``, ``q . v = sum_c p(c | photo) q.e_c``, the
    query's expected similarity to the listing's unknown class text: ranking by it is the probability ranking
    principle (Robertson 1977), and an uncertain photo (a flat posterior, a short vector) ranks below a titled
    listing or a confident photo. Norms are at most 1.

    Raises:
        ValueError: ``posterior`` has not one column per class text.
    """
    if posterior.shape[1] != text_vecs.shape[0]:
        raise ValueError(f"expected_text_vectors: {posterior.shape[1]} classes vs {text_vecs.shape[0]} class texts")
    return (np.asarray(posterior, np.float32) @ np.asarray(text_vecs, np.float32)).astype(np.float32)


def inferred_text_vectors(posterior: np.ndarray, text_vecs: np.ndarray) -> np.ndarray:
    """``t_hat = normalise(posterior @ text_vecs)``: ``(N, d)`` float32 (module doc), the direction of
    :func:`expected_text_vectors`, to fuse with a photo vector like a title.

    Raises:
        ValueError: ``posterior`` has not one column per class text.
    """
    return _normalise(expected_text_vectors(posterior, text_vecs))


SCALE_MULTIPLIERS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)


def calibrate_scale(photo_vecs: np.ndarray, prototypes: np.ndarray, labels: np.ndarray, base_scale: float,
                    multipliers: tuple[float, ...] = SCALE_MULTIPLIERS) -> tuple[float, dict[str, float]]:
    """Temperature scaling (Guo et al. 2017): the ``base_scale * m`` (``m`` in ``multipliers``) with the lowest
    mean negative log-likelihood of ``labels`` under the full softmax of ``scale * photo . prototype``.

    Args:
        photo_vecs: ``(N, d)`` held-out (val) photo vectors; labels: their int classes ``(N,)``.
        prototypes: ``(C, d)`` class prototypes. base_scale: the tower's logit scale (> 0).

    Returns:
        ``(scale, nll_by_multiplier)``; with no photos, ``(base_scale, {})``.
    """
    if base_scale <= 0:
        raise ValueError(f"calibrate_scale: base_scale must be > 0, got {base_scale}")
    if not len(labels):
        return float(base_scale), {}
    logits = np.asarray(photo_vecs, np.float64) @ np.asarray(prototypes, np.float64).T
    rows = np.arange(len(labels))
    nll = {}
    for m in multipliers:
        z = base_scale * m * logits
        z = z - z.max(axis=1, keepdims=True)
        logp = z[rows, np.asarray(labels, dtype=np.int64)] - np.log(np.exp(z).sum(axis=1))
        nll[str(m)] = float(-logp.mean())
    best = min(multipliers, key=lambda m: nll[str(m)])
    return float(base_scale * best), nll


def photo_class_posterior(photo_vecs: np.ndarray, class_vecs: np.ndarray, labels: np.ndarray, train_idx: np.ndarray,
                          val_idx: np.ndarray, base_scale: float, *, beta: float, top_k: int, calibrate: bool = True
                          ) -> tuple[np.ndarray, dict[str, object]]:
    """``p(c | photo)`` of every listing (module doc): prototypes from the train photos, the temperature
    calibrated on the val photos (or ``base_scale`` when ``calibrate`` is off or val is empty).

    Args:
        photo_vecs: ``(N, d)`` photo vectors of all listings; class_vecs: ``(C, d)`` projected class texts;
        labels: int ``(N,)`` classes (only ``train_idx`` / ``val_idx`` rows are read).

    Returns:
        ``(posterior (N, C) float32, report)``; ``report`` holds the scale used and the val NLL per multiplier.
    """
    protos = class_prototypes(class_vecs, photo_vecs[train_idx], labels[train_idx], beta)
    scale, nll = (calibrate_scale(photo_vecs[val_idx], protos, labels[val_idx], base_scale) if calibrate
                  else (float(base_scale), {}))
    report = {"tower_scale": float(base_scale), "scale": scale, "val_nll_by_multiplier": nll, "top_k": int(top_k),
              "prototype_beta": float(beta), "n_val": int(len(val_idx))}
    return class_posterior(photo_vecs, protos, scale, top_k), report


def photo_captions(posterior: np.ndarray, class_text_emb: np.ndarray) -> np.ndarray:
    """Each photo's caption in the frozen text model's own space: :func:`expected_text_vectors` of the
    L2-normalised class-text embeddings ``class_text_emb`` ``(C, text_dim)``; ``(N, text_dim)`` float32, norms <= 1.
    The plain text model searches these like titles (the caption index)."""
    return expected_text_vectors(posterior, _normalise(np.asarray(class_text_emb, np.float32)))
