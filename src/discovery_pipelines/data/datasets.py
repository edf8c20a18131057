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


class CrossEncoderDataset(SentenceTransformerDataset):
    """A sentence-transformers ``CrossEncoder`` folder as a Kedro dataset (the re-ranking teacher);
    saved atomically like :class:`SentenceTransformerDataset`."""

    def load(self) -> Any:
        from discovery_pipelines.search.rerank import load_cross_encoder

        return load_cross_encoder(self._filepath)

    def _exists(self) -> bool:
        return (self._filepath / "config.json").exists()
