"""``models.folder_fingerprint`` hashes exactly the files sentence-transformers loads (real MiniLM folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from discovery_pipelines.data.io import sha256_parts
from discovery_pipelines.search.models import folder_fingerprint, load_model, model_files


@pytest.fixture(scope="module")
def model_copy(minilm_path: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "model"
    shutil.copytree(minilm_path, out)
    return out


def test_a_folder_named_like_a_checkpoint_hashes_its_model(model_copy: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint-500"
    shutil.copytree(model_copy, ckpt)
    assert folder_fingerprint(ckpt) == folder_fingerprint(model_copy)
    assert folder_fingerprint(ckpt) != sha256_parts([])          # not the empty digest
    names = {f.relative_to(ckpt).as_posix() for f in model_files(ckpt)}
    assert {"model.safetensors", "tokenizer.json", "config.json", "modules.json", "1_Pooling/config.json"} <= names


def test_files_that_loading_does_not_read_do_not_count(model_copy: Path, tmp_path: Path) -> None:
    folder = tmp_path / "trained"
    shutil.copytree(model_copy, folder)
    before = folder_fingerprint(folder)
    # training state and notes at the top, and a whole checkpoint folder (weights included) below
    for name in ("optimizer.pt", "scheduler.pt", "trainer_state.json", "training_args.bin", "README.md"):
        (folder / name).write_bytes(b"not read by SentenceTransformer()")
    deep = folder / "checkpoints" / "checkpoint-4"
    deep.mkdir(parents=True)
    (deep / "model.safetensors").write_bytes(b"other weights")
    (deep / "rng_state.pth").write_bytes(b"x")
    assert folder_fingerprint(folder) == before
    assert not any("checkpoints" in f.parts for f in model_files(folder))


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "vocab.txt", "1_Pooling/config.json"])
def test_a_change_in_any_loaded_file_changes_the_fingerprint(model_copy: Path, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "edited"
    shutil.copytree(model_copy, folder)
    before = folder_fingerprint(folder)
    f = folder / name
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01            # one bit, same size
    f.write_bytes(bytes(data))
    assert folder_fingerprint(folder) != before


def test_the_hashed_files_alone_load_the_same_model(minilm_path: Path, model_copy: Path, tmp_path: Path) -> None:
    """Nothing sentence-transformers needs is left out of the fingerprint: a folder with only the
    hashed files loads and gives the same embeddings."""
    only = tmp_path / "only_hashed"
    for f in model_files(model_copy):
        rel = f.relative_to(model_copy)
        (only / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, only / rel)
    assert folder_fingerprint(only) == folder_fingerprint(minilm_path)
    texts = ["cordless drill 20v", "white interior paint"]
    a = load_model(str(minilm_path), device="cpu").encode(texts, normalize_embeddings=True)
    b = load_model(str(only), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
