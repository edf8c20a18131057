"""Every use of Kedro's private API by the stage cache, in one place (checked against Kedro 1.7).

Kedro has no public extension point for "decide per node whether to run it", so the cache relies on
a few underscored names. Each one is wrapped here and listed in :data:`PRIVATE_API`; the test
``tests/stage_cache/test_kedro_api.py`` checks every entry (existence, call signature, behaviour on
real datasets) so that a Kedro upgrade that renames or reshapes one fails that test by name instead
of silently disabling the cache.

Runner internals (``kedro.runner.AbstractRunner`` / ``SequentialRunner``):

* ``_run(pipeline, catalog, hook_manager, run_id)``: the method ``AbstractRunner.run`` calls to run
  the nodes; ``CachingRunner`` overrides it.
* ``_is_async``: the ``is_async`` constructor flag, passed on to ``kedro.runner.Task``.
* ``_release_datasets(node, catalog, load_counts, pipeline)``: frees in-memory data once the last
  consumer ran (Kedro's own bookkeeping, kept so memory behaves as with ``SequentialRunner``).
* ``_suggest_resume_scenario(pipeline, done_nodes, catalog)``: logs the ``--from-nodes`` hint after
  a failure.

Dataset internals (``kedro.io`` / ``kedro_datasets``):

* ``_EPHEMERAL`` (``MemoryDataset`` and friends), ``_protocol`` and ``_filepath`` (fsspec datasets),
  ``_version`` + ``_get_versioned_path(version)`` (versioned datasets), ``_path``
  (``PartitionedDataset``), and ``_describe()`` (the configuration ``repr`` of every dataset).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from kedro.runner import SequentialRunner

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

PRIVATE_API: tuple[tuple[str, str, str], ...] = (
    # (owner, name, what it is); the test checks each
    ("kedro.runner.SequentialRunner", "_run", "method(pipeline, catalog, hook_manager, run_id)"),
    ("kedro.runner.SequentialRunner", "_is_async", "instance attribute: bool"),
    ("kedro.runner.SequentialRunner", "_release_datasets", "method(node, catalog, load_counts, pipeline)"),
    ("kedro.runner.SequentialRunner", "_suggest_resume_scenario", "method(pipeline, done_nodes, catalog)"),
    ("kedro.io.MemoryDataset", "_EPHEMERAL", "instance attribute: True"),
    ("kedro_datasets.pandas.ParquetDataset", "_protocol", "instance attribute: fsspec protocol"),
    ("kedro_datasets.pandas.ParquetDataset", "_filepath", "instance attribute: PurePath"),
    ("kedro_datasets.json.JSONDataset", "_version", "instance attribute: Version | None"),
    ("kedro_datasets.json.JSONDataset", "_get_versioned_path", "method(version) -> PurePath"),
    ("kedro_datasets.partitions.PartitionedDataset", "_path", "instance attribute: str"),
    ("kedro.io.AbstractDataset", "_describe", "method() -> dict"),
)
"""The private names used, as ``(owner, name, description)``."""

BaseRunner = SequentialRunner
"""The runner class ``CachingRunner`` extends (its ``_run`` is overridden)."""


# -- runner internals ---------------------------------------------------------------------------


def runner_is_async(runner: SequentialRunner) -> bool:
    """The runner's ``is_async`` flag (``_is_async``)."""
    return bool(runner._is_async)


def runner_logger(runner: SequentialRunner) -> logging.Logger:
    """The logger Kedro's runners report progress on (``_logger``, a class property)."""
    return runner._logger


def release_datasets(
    runner: SequentialRunner, node: Node, catalog: CatalogProtocol, load_counts: dict, pipeline: Pipeline
) -> None:
    """Release in-memory datasets ``node`` was the last consumer of (``_release_datasets``)."""
    runner._release_datasets(node, catalog, load_counts, pipeline)


def suggest_resume_scenario(
    runner: SequentialRunner, pipeline: Pipeline, done_nodes: Iterable[Node], catalog: CatalogProtocol
) -> None:
    """Log Kedro's hint on how to resume after a failure (``_suggest_resume_scenario``)."""
    runner._suggest_resume_scenario(pipeline, done_nodes, catalog)


# -- dataset internals ---------------------------------------------------------------------------


def is_ephemeral(dataset: Any) -> bool:
    """True for datasets that live in memory only (``_EPHEMERAL``)."""
    return bool(getattr(dataset, "_EPHEMERAL", False))


def fsspec_protocol(dataset: Any) -> str | None:
    """The fsspec protocol of a file dataset (``_protocol``: ``file``, ``s3``...), ``None`` if it has none."""
    return getattr(dataset, "_protocol", None)


def file_path(dataset: Any) -> PurePath | None:
    """The unversioned file path of an fsspec dataset (``_filepath``), or ``None``."""
    return getattr(dataset, "_filepath", None)


def is_versioned(dataset: Any) -> bool:
    """True when the dataset is versioned (``_version`` set and ``_get_versioned_path`` available)."""
    return bool(getattr(dataset, "_version", None)) and hasattr(dataset, "_get_versioned_path")


def versioned_path(dataset: Any, for_save: bool) -> PurePath:
    """Path of the current save version (``for_save``) or of the latest load version.

    Raises:
        Whatever Kedro raises when no version exists yet (e.g. ``VersionNotFoundError``).
    """
    version = dataset.resolve_save_version() if for_save else dataset.resolve_load_version()
    return dataset._get_versioned_path(version)


def partition_root(dataset: Any) -> str | PurePath | None:
    """The root folder of a ``PartitionedDataset``-style dataset (``_path``), or ``None``."""
    raw = getattr(dataset, "_path", None)
    return raw if isinstance(raw, str | PurePath) else None


def describe(dataset: Any) -> dict[str, Any]:
    """The dataset's configuration as Kedro prints it (``_describe()``); ``{}`` if it has none."""
    try:
        return dict(dataset._describe())
    except Exception:  # noqa: BLE001  (a dataset without a usable _describe: type alone identifies it)
        return {}
