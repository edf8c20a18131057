"""export_index / load_index on a small real Home Depot catalogue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.search.embeddings import corpus_fingerprint, product_texts
from discovery_pipelines.search.index import (
    EMBEDDINGS_FILE,
    IDS_FILE,
    INDEX_FILE,
    MANIFEST_FILE,
    IndexLoadError,
    build_faiss_index,
    export_index,
    load_index,
)
from discovery_pipelines.search.models import model_fingerprint

CACHE_DIR = Path(__file__).resolve().parents[2] / "data" / "07_model_output" / "embedding_cache"


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory, st_model, catalogue, catalogue_emb):
    out = tmp_path_factory.mktemp("idx") / "flat"
    return export_index(out, st_model, catalogue[0], catalogue_emb, metadata={"run": "test"}, show_progress=False)


def test_flat_export_roundtrip(flat_dir, st_model, catalogue, catalogue_emb):
    products = catalogue[0]
    li = load_index(flat_dir, expected_model_fingerprint=model_fingerprint(st_model))
    m = li.manifest
    assert {p.name for p in flat_dir.iterdir()} == {INDEX_FILE, IDS_FILE, MANIFEST_FILE, EMBEDDINGS_FILE}
    assert m["dimension"] == 384 and m["metric"] == "ip" and m["factory"] == "Flat"
    assert m["n_vectors"] == len(products) == len(li) == li.index.ntotal
    assert m["model_fingerprint"] == model_fingerprint(st_model)
    assert m["corpus_fingerprint"] == corpus_fingerprint(product_texts(products))
    assert m["encode_precision"] is None   # the vectors were passed in, not encoded by the export
    assert m["format_version"] == 1 and m["metadata"] == {"run": "test"}
    assert m["created_utc"].endswith("+00:00") and "faiss-cpu" in m["library_versions"]
    assert set(m["files"]) == {INDEX_FILE, IDS_FILE, EMBEDDINGS_FILE}
    assert list(li.ids.columns)[:3] == ["position", "product_id", "title"]
    assert {"category_path", "available", "store_atlanta", "brand", "locale"} <= set(li.ids.columns)
    assert "description" not in li.ids.columns
    assert li.ids["product_id"].tolist() == products["product_id"].tolist()
    np.testing.assert_array_equal(li.embeddings, catalogue_emb)
    assert li.is_exact
    # positions are faiss labels: every product's own vector finds itself first (score = 1)
    scores, labels = li.index.search(catalogue_emb[:50], 1)
    assert (labels[:, 0] == np.arange(50)).all()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)


def test_export_encodes_with_cache_when_no_embeddings(tmp_path, st_model, catalogue, catalogue_emb):
    out = export_index(tmp_path / "enc", st_model, catalogue[0], cache_dir=CACHE_DIR, show_progress=False)
    li = load_index(out)
    np.testing.assert_allclose(li.embeddings, catalogue_emb, atol=1e-6)
    assert li.manifest["encode_precision"] in ("fp32", "bf16")


def test_wrong_model_fingerprint_is_refused(flat_dir):
    with pytest.raises(IndexLoadError, match="model_fingerprint .* does not match"):
        load_index(flat_dir, expected_model_fingerprint="0" * 64)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / IDS_FILE).unlink(), "ids.parquet listed in manifest.json is missing"),
        (lambda d: (d / INDEX_FILE).write_bytes((d / INDEX_FILE).read_bytes()[:-10]), "index.faiss has .* bytes"),
        (lambda d: (d / MANIFEST_FILE).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST_FILE).write_text("{not json"), "not valid JSON"),
    ],
)
def test_damaged_folder_is_refused_with_the_file_named(tmp_path, flat_dir, damage, message):
    d = tmp_path / "copy"
    shutil.copytree(flat_dir, d)
    damage(d)
    with pytest.raises(IndexLoadError, match=message):
        load_index(d)


def test_manifest_inconsistencies_are_refused(tmp_path, flat_dir):
    for field, value, message in [
        ("n_vectors", 7, "holds .* vectors, manifest n_vectors is 7"),
        ("dimension", 128, "dimension 384, manifest dimension is 128"),
        ("format_version", 99, "format_version 99 is not supported"),
    ]:
        d = tmp_path / field
        shutil.copytree(flat_dir, d)
        m = json.loads((d / MANIFEST_FILE).read_text())
        m[field] = value
        (d / MANIFEST_FILE).write_text(json.dumps(m))
        with pytest.raises(IndexLoadError, match=message):
            load_index(d)
    # same size, different bytes: only the checksum catches it
    d = tmp_path / "flip"
    shutil.copytree(flat_dir, d)
    raw = bytearray((d / EMBEDDINGS_FILE).read_bytes())
    raw[-1] ^= 0xFF
    (d / EMBEDDINGS_FILE).write_bytes(bytes(raw))
    with pytest.raises(IndexLoadError, match="embeddings.npy does not match its sha256"):
        load_index(d)


def test_reexport_replaces_folder_atomically(tmp_path, st_model, catalogue, catalogue_emb):
    out = tmp_path / "idx"
    first = load_index(export_index(out, st_model, catalogue[0], catalogue_emb, show_progress=False)).index_id
    half = catalogue[0].iloc[:100]
    second = load_index(export_index(out, st_model, half, catalogue_emb[:100], save_embeddings=False,
                                     show_progress=False))
    assert second.index_id != first and len(second) == 100
    assert not (out / EMBEDDINGS_FILE).exists()  # the old folder was replaced whole, not merged
    assert second.embeddings is not None  # flat: reconstructed from the faiss index
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temp or .old folder left behind


def test_ann_factories_train_and_find_the_exact_neighbours(catalogue_emb):
    exact = build_faiss_index(catalogue_emb, "Flat")
    q = catalogue_emb[::7]
    _, truth = exact.search(q, 10)
    for factory, setup in [("HNSW16", lambda ix: setattr(ix.hnsw, "efSearch", 64)),
                           ("IVF8,Flat", lambda ix: setattr(ix, "nprobe", 8))]:
        ix = build_faiss_index(catalogue_emb, factory)
        setup(ix)
        _, got = ix.search(q, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
        assert recall >= 0.95, (factory, recall)
    pq = build_faiss_index(catalogue_emb, "IVF4,PQ16x4np")  # trained product quantiser: lossy but close
    _, got = pq.search(q, 10)
    assert np.mean([t[0] in set(g) for t, g in zip(truth, got)]) >= 0.8


def test_hnsw_export_without_embeddings(tmp_path, st_model, catalogue, catalogue_emb):
    out = export_index(tmp_path / "hnsw", st_model, catalogue[0], catalogue_emb, factory="HNSW16",
                       save_embeddings=False, search_params={"efSearch": 64}, show_progress=False)
    li = load_index(out)
    assert not li.is_exact and li.embeddings is None and li.manifest["search_params"] == {"efSearch": 64}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p, e: (pd.concat([p, p.iloc[:1]]), np.vstack([e, e[:1]])), "product_id must be unique; row 0 repeats"),
        (lambda p, e: (p, e[:-1]), "does not match"),
        (lambda p, e: (p, e * 2.0), "expects L2-normalised vectors; row 0"),
        (lambda p, e: (p.iloc[:0], e[:0]), "products is empty"),
        (lambda p, e: (p.drop(columns="title"), e), "no 'title' column"),
    ],
)
def test_bad_export_input_is_refused(tmp_path, st_model, catalogue, catalogue_emb, mutate, message):
    p, e = mutate(catalogue[0], catalogue_emb)
    with pytest.raises(ValueError, match=message):
        export_index(tmp_path / "bad", st_model, p, e, show_progress=False)
    assert not (tmp_path / "bad").exists()


def test_untrainable_factory_is_refused(catalogue_emb):
    with pytest.raises(ValueError, match="1024 inverted lists but only"):
        build_faiss_index(catalogue_emb, "IVF1024,Flat")
    with pytest.raises(ValueError, match="could not build factory"):
        build_faiss_index(catalogue_emb, "NotAFactory")
