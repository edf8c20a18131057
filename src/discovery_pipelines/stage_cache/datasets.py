"""Catalog entry -> what the stage cache hashes: the local path a dataset reads or writes, and the
canonical form of its configuration. Kedro's private dataset attributes are reached through
:mod:`discovery_pipelines.stage_cache.kedro_api` only."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from discovery_pipelines.data.io import canonical_json
from discovery_pipelines.stage_cache import kedro_api

_LOCAL_PROTOCOLS = {None, "", "file", "local"}


def is_param(name: str) -> bool:
    """True for the parameter inputs of a node (``parameters`` and ``params:<key>``)."""
    return name == "parameters" or name.startswith("params:")


def may_be_absent(dataset: Any) -> bool:
    """True for an output dataset that a successful node may leave unwritten (``MAY_BE_ABSENT = True``,
    e.g. :class:`discovery_pipelines.data.datasets.GatedDataset`): the cache records it as absent, and the
    node is not re-run for it as long as it stays absent."""
    return bool(getattr(dataset, "MAY_BE_ABSENT", False))


def dataset_local_path(dataset: Any, for_save: bool = False) -> Path | None:
    """Local filesystem path a Kedro dataset reads/writes, or ``None`` if it is not file-backed.

    Handles fsspec-based datasets (``_filepath`` + ``_protocol``; versioned datasets resolve the
    latest load version, or the current save version with ``for_save``) and
    ``PartitionedDataset``-style datasets (``_path``). Memory, parameter, database and remote
    (``s3://`` ...) datasets return ``None``. A versioned dataset with no version yet gives a path
    that does not exist (``<filepath>/<no-version>``), i.e. a missing file.
    """
    if kedro_api.is_ephemeral(dataset):
        return None
    if kedro_api.fsspec_protocol(dataset) not in _LOCAL_PROTOCOLS:
        return None
    raw: Any = None
    if kedro_api.is_versioned(dataset):
        try:
            raw = kedro_api.versioned_path(dataset, for_save)
        except Exception:  # noqa: BLE001  (no version yet: treat as missing file)
            raw = PurePath(str(kedro_api.file_path(dataset) or "")) / "<no-version>"
    elif kedro_api.file_path(dataset) is not None:
        raw = kedro_api.file_path(dataset)
    elif kedro_api.partition_root(dataset) is not None:
        raw = str(kedro_api.partition_root(dataset))
        if "://" in raw and not raw.startswith("file://"):
            return None
        raw = raw.removeprefix("file://")
    if raw is None or str(raw) == "":
        return None
    return Path(str(raw))


def dataset_config(dataset: Any) -> str:
    """Canonical JSON of a dataset's type and ``_describe()`` (minus the run-specific ``version``)."""
    desc = kedro_api.describe(dataset)
    desc.pop("version", None)
    return canonical_json({"type": f"{type(dataset).__module__}.{type(dataset).__qualname__}", **desc})
