"""Custom Kedro datasets."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from discovery_pipelines.data.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gated:
    """A node output written only when a check passed (e.g. the regression gate), with an optional fallback
    written instead where the check failed and the dataset holds nothing yet (a first release).

    Attributes:
        value: what the wrapped dataset saves when ``passed``; ignored (may be ``None``) otherwise.
        passed: write ``value`` (True), or leave the dataset's current content untouched (False).
        reason: why, logged when ``value`` is not written.
        fallback: what the wrapped dataset saves when the check did not pass AND it holds nothing yet
            (``not dataset.exists()``: a first release); ``None`` (the default) writes nothing then either.
            Ignored when ``passed`` or when the dataset already exists: the previous content stays.
    """

    value: Any
    passed: bool
    reason: str = ""
    fallback: Any = None


class GatedDataset(AbstractDataset[Any, Any]):
    """Wraps a file dataset so that a node can decide, through a :class:`Gated` value, whether its output
    is written at all: a release (model folder, search index) that failed its gate keeps the previous one,
    or, where there is none yet, gets the node's fallback (e.g. the production checkpoint).

    Kedro saves every output a node returns, so the decision travels with the data. ``save`` writes:

    - ``Gated(value, passed=True)``: ``value`` (replacing the previous content);
    - ``Gated(..., passed=False, fallback=f)`` with ``f`` not ``None`` while the wrapped dataset does not
      exist (``not exists()``, a first release): ``f``, with a warning naming the path and the reason;
    - otherwise (not passed, and no fallback or the dataset exists): nothing, the previous content stays.

    ``load`` and ``exists`` are the wrapped dataset's; the wrapped file path is exposed to the stage cache,
    which hashes what is on disk (a fallback write is an ordinary write) and records an output left
    unwritten as absent (``MAY_BE_ABSENT``): the node is not re-run for it while it stays absent, and is
    re-run when what is on disk changes.

    Args:
        dataset: the wrapped dataset's catalog config (``{"type": ..., "filepath": ...}``) or instance.

    Raises:
        TypeError (on save): the node returned something other than a :class:`Gated`.
    """

    #: the stage cache records an unwritten release as absent instead of re-running its node
    MAY_BE_ABSENT = True

    def __init__(self, dataset: dict[str, Any] | AbstractDataset, metadata: dict[str, Any] | None = None) -> None:
        self._dataset = (dataset if isinstance(dataset, AbstractDataset)
                         else AbstractDataset.from_config("gated", dict(dataset)))
        self._filepath = getattr(self._dataset, "_filepath", None)
        self._protocol = getattr(self._dataset, "_protocol", "file")
        self.metadata = metadata

    def load(self) -> Any:
        return self._dataset.load()

    def save(self, data: Any) -> None:
        if not isinstance(data, Gated):
            raise TypeError(f"{type(self).__name__}({self._filepath}): expected a Gated value, got "
                            f"{type(data).__name__}")
        reason = data.reason or "gate not passed"
        if data.passed:
            self._dataset.save(data.value)
        elif data.fallback is not None and not self._dataset.exists():
            self._dataset.save(data.fallback)
            log.warning("no previous release at %s: released the fallback (%s)", self._filepath, reason)
        else:
            log.warning("%s not written (%s): the previous content, if any, stays", self._filepath, reason)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": type(self._dataset).__name__, **self._dataset._describe()}


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


@dataclass(frozen=True)
class EventsFolder:
    """A folder of search events Parquet (``contract.COLUMNS['events']``), as :class:`EventsFolderDataset` loads it.

    Attributes:
        path: the folder (``date=YYYY-MM-DD/*.parquet`` partitions, or any Parquet files below it).
        recorded: the manifest written with the folder (``{"source": "simulated", ...}``: the simulator's
            counts and parameters), or ``None`` for an external export.
    """

    path: Path
    recorded: dict[str, Any] | None = None

    @property
    def source(self) -> str:
        """``simulated`` or ``external``."""
        return str((self.recorded or {}).get("source", "external"))

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """The recorded manifest, or for an external export ``{"source": "external", "path",
        "content_sha256"}`` (:func:`data.io.path_digest`, computed on first access only)."""
        if self.recorded is not None:
            return self.recorded
        from discovery_pipelines.data.io import path_digest

        return {"source": "external", "path": str(self.path), "content_sha256": path_digest(self.path)}


class EventsFolderDataset(AbstractDataset[Any, EventsFolder]):
    """The search events folder: written by the click-log simulator, or a real log export put there.

    ``save`` takes a writer ``write(folder) -> manifest`` (lazy saving, as kedro-datasets'
    ``PartitionedDataset`` does with callables: 100M events stream to disk chunk by chunk, never held in
    memory) and runs it into a temporary sibling that is renamed into place, with the manifest in
    ``_manifest.json`` marked ``source: simulated``. Wrap it in :class:`GatedDataset` so that a run over
    external events (``simulate: false``) writes nothing and reads what is there. Being a local folder
    dataset, the stage cache hashes its content: a new export at the same path re-runs its readers.

    Raises:
        FileNotFoundError (on load): the folder does not exist or holds no ``*.parquet`` file.
    """

    MANIFEST = "_manifest.json"

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._protocol = "file"
        self.metadata = metadata

    def load(self) -> EventsFolder:
        import json

        root = self._filepath
        if not root.is_dir() or not any(root.rglob("*.parquet")):
            raise FileNotFoundError(f"events folder {root} does not exist or holds no *.parquet file (set the "
                                    "catalog entry log_mining.events to the log export, or simulate: true)")
        mf = root / self.MANIFEST
        recorded = json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else {}
        return EventsFolder(root, recorded if recorded.get("source") == "simulated" else None)

    def save(self, data: Any) -> None:
        from discovery_pipelines.data.io import write_json

        if not callable(data):
            raise TypeError(f"EventsFolderDataset({self._filepath}): expected a writer write(folder) -> manifest, "
                            f"got {type(data).__name__}")
        with atomic_path(self._filepath) as tmp:
            manifest = dict(data(tmp) or {})
            write_json({**manifest, "source": "simulated", "path": str(self._filepath)}, tmp / self.MANIFEST)

    def _exists(self) -> bool:
        return self._filepath.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class FaissIndexDataset(AbstractDataset[Any, Any]):
    """An exported search index folder (:func:`discovery_pipelines.search.index.export_index` format).

    ``save`` takes ``{"products": DataFrame, "embeddings": (N, d) array, **export_index keywords}`` and
    exports with the query model folder ``model_dir`` (recorded in the manifest, so ``discovery search``
    and ``SearchService`` find the model); without ``"embeddings"`` the products are encoded with that
    model (:func:`~discovery_pipelines.search.index.export_index`, embedding cache). ``load`` returns
    :func:`~discovery_pipelines.search.index.load_index`.
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
        export_index(self._filepath, str(self._model_dir), args.pop("products"), args.pop("embeddings", None),
                     **args)

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
