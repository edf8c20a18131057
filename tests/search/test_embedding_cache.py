"""The on-disk embedding cache of ``embeddings.encode``: each entry is checked (checksum, shape, dtype)
before it is used; a damaged or wrong entry is a logged miss that recomputes (real MiniLM, real titles)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from discovery_pipelines.data.io import sha256_file
from discovery_pipelines.search.embeddings import encode
from discovery_pipelines.search.models import load_model


@pytest.fixture(scope="module")
def model(minilm_path):
    return load_model(str(minilm_path), device="cpu")


@pytest.fixture(scope="module")
def titles(hd_small) -> list[str]:
    return hd_small.products["title"].astype(str).head(24).tolist()


def _entry(cache: Path) -> Path:
    (npy,) = cache.glob("*.npy")
    return npy


def _fresh(model, titles, cache: Path) -> np.ndarray:
    return encode(model, titles, cache_dir=cache, show_progress=False, precision="fp32")


def test_a_valid_entry_is_a_hit(model, titles, tmp_path: Path) -> None:
    first = _fresh(model, titles, tmp_path)
    npy = _entry(tmp_path)
    meta = json.loads(npy.with_suffix(".json").read_text())
    assert meta["shape"] == [len(titles), 384] and meta["dtype"] == "float32"
    assert meta["sha256"] == sha256_file(npy)
    mtime = npy.stat().st_mtime_ns
    np.testing.assert_array_equal(_fresh(model, titles, tmp_path), first)
    assert npy.stat().st_mtime_ns == mtime          # served from the file, not rewritten


def _truncate(npy: Path, ref: np.ndarray) -> None:
    npy.write_bytes(npy.read_bytes()[: npy.stat().st_size // 2])


def _same_shape_wrong(npy: Path, ref: np.ndarray) -> None:
    np.save(npy, np.roll(ref, 1, axis=0))            # right shape and dtype, wrong rows


def _wrong_dimension(npy: Path, ref: np.ndarray) -> None:
    np.save(npy, ref[:, :128].copy())


def _wrong_rows(npy: Path, ref: np.ndarray) -> None:
    np.save(npy, ref[:-1].copy())


def _no_sidecar(npy: Path, ref: np.ndarray) -> None:
    npy.with_suffix(".json").unlink()


@pytest.mark.parametrize("damage", [_truncate, _same_shape_wrong, _wrong_dimension, _wrong_rows, _no_sidecar],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_damaged_entry_is_a_logged_miss_that_recomputes(model, titles, tmp_path, caplog, damage) -> None:
    ref = _fresh(model, titles, tmp_path)
    npy = _entry(tmp_path)
    damage(npy, ref)
    with caplog.at_level(logging.WARNING, logger="discovery_pipelines.search.embeddings"):
        got = _fresh(model, titles, tmp_path)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    if damage is not _no_sidecar:     # an entry without its sidecar (crash between the two writes) is a silent miss
        assert any(str(npy) in r.getMessage() and "recomputing" in r.getMessage() for r in caplog.records)
    # the entry was rewritten and is valid again
    mtime = _entry(tmp_path).stat().st_mtime_ns
    np.testing.assert_array_equal(_fresh(model, titles, tmp_path), got)
    assert _entry(tmp_path).stat().st_mtime_ns == mtime
