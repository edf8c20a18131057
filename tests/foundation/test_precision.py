"""bf16 autocast for encoding and training: names resolve, bad names fail, bf16 embeddings match fp32."""

from __future__ import annotations

import numpy as np
import pytest

from discovery_pipelines.search.embeddings import encode
from discovery_pipelines.search.precision import resolve_precision


def test_resolve_precision_names_and_env(monkeypatch):
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("BF16") == "bf16"
    assert resolve_precision("auto") in ("fp32", "bf16")
    monkeypatch.setenv("DISCOVERY_PRECISION", "fp32")
    assert resolve_precision() == resolve_precision("auto") == "fp32"   # the environment decides "auto"
    assert resolve_precision("bf16") == "bf16"                          # an explicit name wins
    monkeypatch.setenv("DISCOVERY_PRECISION", "half")
    with pytest.raises(ValueError, match="DISCOVERY_PRECISION"):
        resolve_precision()
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16")


def test_bf16_embeddings_match_fp32_and_are_cached_apart(hd_small, minilm_path, tmp_path):
    """Real titles: bf16 autocast (native or emulated) stays within cosine 0.999 of fp32, both are
    float32 unit vectors, and the cache keeps the two precisions in separate files."""
    titles = hd_small.products["title"].head(200).tolist()
    e32 = encode(str(minilm_path), titles, cache_dir=tmp_path, show_progress=False, precision="fp32")
    e16 = encode(str(minilm_path), titles, cache_dir=tmp_path, show_progress=False, precision="bf16")
    assert e32.dtype == e16.dtype == np.float32 and e32.shape == e16.shape == (200, 384)
    np.testing.assert_allclose(np.linalg.norm(e16, axis=1), 1.0, atol=1e-3)
    cos = (e32 * e16).sum(axis=1)
    assert cos.min() > 0.999 and not np.array_equal(e32, e16)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    # a cache hit returns the stored array of the same precision
    np.testing.assert_array_equal(encode(str(minilm_path), titles, cache_dir=tmp_path, precision="bf16"), e16)
