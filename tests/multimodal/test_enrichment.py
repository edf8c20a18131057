"""Photo-inferred text (:mod:`discovery_pipelines.multimodal.enrichment`): prototypes, the top-K posterior and
expected-relevance ranking, on real class texts of GroceryStore embedded by the packaged text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.multimodal.enrichment import (
    calibrate_scale,
    class_posterior,
    class_prototypes,
    inferred_text_vectors,
    photo_class_posterior,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def class_texts(grocery_root: Path, st_model) -> tuple[pd.DataFrame, np.ndarray]:
    classes = pd.read_parquet(grocery_root / "classes.parquet").sort_values("fine_class_id").reset_index(drop=True)
    texts = (classes["fine_class_name"].str.replace("-", " ") + ". " + classes["description"]).tolist()
    return classes, _unit(st_model.encode(texts, convert_to_numpy=True))


def test_posterior_is_a_top_k_softmax() -> None:
    rng = np.random.default_rng(0)
    protos, photos = _unit(rng.normal(size=(7, 16))), _unit(rng.normal(size=(5, 16)))
    post = class_posterior(photos, protos, scale=20.0, top_k=3)
    assert post.shape == (5, 7) and post.dtype == np.float32
    assert np.allclose(post.sum(axis=1), 1.0, atol=1e-6) and ((post > 0).sum(axis=1) == 3).all()
    logits = 20.0 * photos @ protos.T
    assert (post.argmax(axis=1) == logits.argmax(axis=1)).all()
    top3 = np.sort(np.argsort(-logits, axis=1)[:, :3], axis=1)
    assert (np.sort(np.argsort(-post, axis=1)[:, :3], axis=1) == top3).all()
    one = class_posterior(photos, protos, scale=20.0, top_k=1)
    assert set(np.unique(one)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="top_k"):
        class_posterior(photos, protos, scale=20.0, top_k=0)


def test_prototypes_pull_classes_towards_their_photos() -> None:
    rng = np.random.default_rng(1)
    texts = _unit(rng.normal(size=(4, 8)))
    photos = _unit(np.repeat(texts, 5, axis=0) + 0.8 * rng.normal(size=(20, 8)))
    labels = np.repeat(np.arange(4), 5)
    assert np.allclose(class_prototypes(texts, photos, labels, 0.0), texts, atol=1e-6)
    protos = class_prototypes(texts, photos, labels, 1.0)
    mean0 = _unit(photos[:5].mean(0, keepdims=True))[0]
    assert protos[0] @ mean0 > texts[0] @ mean0                 # closer to its photos than the text alone
    assert np.allclose(np.linalg.norm(protos, axis=1), 1.0, atol=1e-5)
    # a class without a train photo keeps its text vector
    partial = class_prototypes(texts, photos[:15], labels[:15], 1.0)
    assert np.allclose(partial[3], texts[3], atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        class_prototypes(texts, photos, labels + 1, 1.0)


def test_inferred_text_ranks_by_expected_relevance(class_texts, st_model) -> None:
    """A photo that is 70 % Granny Smith / 30 % Banana must outrank, for "green apples", one that is 30 % / 70 %,
    and the order reverses for "bananas": the query's expected similarity to the listing's unknown class."""
    classes, texts = class_texts
    idx = {name: i for i, name in enumerate(classes["fine_class_name"])}
    post = np.zeros((2, len(texts)), np.float32)
    post[0, [idx["Granny-Smith"], idx["Banana"]]] = [0.7, 0.3]
    post[1, [idx["Granny-Smith"], idx["Banana"]]] = [0.3, 0.7]
    inferred = inferred_text_vectors(post, texts)
    assert inferred.shape == (2, texts.shape[1]) and np.allclose(np.linalg.norm(inferred, axis=1), 1, atol=1e-5)
    q = _unit(st_model.encode(["green apples", "bananas"], convert_to_numpy=True))
    s = q @ inferred.T
    assert s[0, 0] > s[0, 1] and s[1, 1] > s[1, 0]
    with pytest.raises(ValueError, match="classes"):
        inferred_text_vectors(post[:, :10], texts)


def test_temperature_scaling_picks_the_lowest_validation_nll() -> None:
    """Over-confident logits (scale 40 on noisy photos) are cooled down; the chosen multiple has the lowest NLL."""
    rng = np.random.default_rng(2)
    protos = _unit(rng.normal(size=(6, 12)))
    labels = np.repeat(np.arange(6), 20)
    photos = _unit(protos[labels] + 0.9 * rng.normal(size=(120, 12)))
    scale, nll = calibrate_scale(photos, protos, labels, base_scale=40.0)
    best = min(nll, key=nll.get)
    assert scale == pytest.approx(40.0 * float(best)) and float(best) < 1.0
    assert nll[best] < nll["1.0"]
    assert calibrate_scale(photos[:0], protos, labels[:0], base_scale=40.0) == (40.0, {})
    post, report = photo_class_posterior(photos, protos, labels, np.arange(0, 120, 2), np.arange(1, 120, 2), 40.0,
                                         beta=0.0, top_k=3)
    assert report["scale"] < 40.0 and post.shape == (120, 6) and np.allclose(post.sum(axis=1), 1, atol=1e-5)
