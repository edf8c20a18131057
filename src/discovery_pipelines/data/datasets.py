"""Custom Kedro datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from discovery_pipelines.data.io import atomic_path


class SentenceTransformerDataset(AbstractDataset[Any, Any]):
    """A sentence-transformers model folder as a Kedro dataset.

    ``save`` writes the whole folder to a temporary sibling and renames it into place, so a crash
    never leaves a half-written model; ``load`` returns a ``SentenceTransformer`` (CPU or CUDA).
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        from discovery_pipelines.search.models import load_model

        return load_model(self._filepath)

    def save(self, data: Any) -> None:
        with atomic_path(self._filepath) as tmp:
            data.save_pretrained(str(tmp))

    def _exists(self) -> bool:
        return (self._filepath / "modules.json").exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class NumpyArrayDataset(AbstractDataset[Any, Any]):
    """One ``numpy`` array as a ``.npy`` file, written atomically (temp file, then rename)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._protocol = "file"
        self.metadata = metadata

    def load(self) -> Any:
        import numpy as np

        return np.load(self._filepath, allow_pickle=False)

    def save(self, data: Any) -> None:
        import numpy as np

        with atomic_path(self._filepath) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(data), allow_pickle=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TorchObjectDataset(AbstractDataset[Any, Any]):
    """A ``torch.save``-able object (e.g. a model's spec + ``state_dict``), written atomically; loaded
    with ``weights_only=True`` (tensors, dicts, lists and plain values only: no code is unpickled)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._protocol = "file"
        self.metadata = metadata

    def load(self) -> Any:
        import torch

        return torch.load(self._filepath, map_location="cpu", weights_only=True)

    def save(self, data: Any) -> None:
        import torch

        with atomic_path(self._filepath) as tmp:
            torch.save(data, tmp)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class FolderDataset(AbstractDataset[Any, Any]):
    """A read-only raw folder (e.g. a photo collection): ``load`` returns its ``Path``. Being a local
    folder dataset, the stage cache hashes its content, so a changed photo re-runs its readers."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._protocol = "file"
        self.metadata = metadata

    def load(self) -> Path:
        if not self._filepath.is_dir():
            raise FileNotFoundError(f"folder {self._filepath} does not exist (check DISCOVERY_DATA_ROOT)")
        return self._filepath

    def save(self, data: Any) -> None:
        raise NotImplementedError(f"{self._filepath} is a read-only raw input")

    def _exists(self) -> bool:
        return self._filepath.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class FaissIndexDataset(AbstractDataset[Any, Any]):
    """An exported search index folder (:func:`discovery_pipelines.search.index.export_index` format).

    ``save`` takes ``{"products": DataFrame, "embeddings": (N, d) array, **export_index keywords}`` and
    exports with the query model folder ``model_dir`` (recorded in the manifest, so ``discovery search``
    and ``SearchService`` find the model); ``load`` returns :func:`~discovery_pipelines.search.index.load_index`.
    """

    def __init__(self, filepath: str, model_dir: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._model_dir = Path(model_dir)
        self._protocol = "file"
        self.metadata = metadata

    def load(self) -> Any:
        from discovery_pipelines.search.index import load_index

        return load_index(self._filepath)

    def save(self, data: Any) -> None:
        from discovery_pipelines.search.index import export_index

        args = dict(data)
        export_index(self._filepath, str(self._model_dir), args.pop("products"), args.pop("embeddings"), **args)

    def _exists(self) -> bool:
        return (self._filepath / "manifest.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model_dir": str(self._model_dir)}


class CrossEncoderDataset(SentenceTransformerDataset):
    """A sentence-transformers ``CrossEncoder`` folder as a Kedro dataset (the re-ranking teacher);
    saved atomically like :class:`SentenceTransformerDataset`."""

    def load(self) -> Any:
        from discovery_pipelines.search.rerank import load_cross_encoder

        return load_cross_encoder(self._filepath)

    def _exists(self) -> bool:
        return (self._filepath / "config.json").exists()
