"""The private Kedro API the stage cache uses (``stage_cache.kedro_api.PRIVATE_API``), checked one by
one against the installed Kedro: a Kedro upgrade that renames or reshapes any of it fails here by name."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections import Counter
from pathlib import Path, PurePath

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.partitions import PartitionedDataset

from discovery_pipelines.stage_cache import CachingRunner, dataset_config, dataset_local_path, kedro_api


def _owner(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _params(func) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p != "self"]


@pytest.mark.parametrize(("owner", "name", "what"), kedro_api.PRIVATE_API, ids=[f"{o}.{n}" for o, n, _ in kedro_api.PRIVATE_API])
def test_every_listed_private_name_exists(owner: str, name: str, what: str, tmp_path: Path) -> None:
    cls = _owner(owner)
    if what.startswith("method"):
        assert callable(getattr(cls, name, None)), f"{owner}.{name} is gone"
        expected = [a.strip() for a in what[what.index("(") + 1 : what.index(")")].split(",") if a.strip()]
        assert _params(getattr(cls, name)) == expected, f"{owner}.{name} changed its signature"
    else:  # instance attribute: build a real instance
        if cls is MemoryDataset:
            assert MemoryDataset()._EPHEMERAL is True
            return
        if cls is kedro_api.BaseRunner:
            inst = cls(is_async=True)
        elif cls is PartitionedDataset:
            inst = cls(path=str(tmp_path / "parts"), dataset="pandas.CSVDataset")
        else:
            inst = cls(filepath=str(tmp_path / "x.bin"))
        assert hasattr(inst, name), f"{owner} instances no longer have {name}"


def test_runner_internals_behave_as_the_cache_needs() -> None:
    runner = CachingRunner(is_async=True)
    assert kedro_api.runner_is_async(runner) is True
    assert isinstance(kedro_api.runner_logger(runner), logging.Logger)
    # AbstractRunner.run must still delegate to _run(pipeline, catalog, hook_manager, run_id)
    src = inspect.getsource(inspect.getmodule(kedro_api.BaseRunner).__dict__["AbstractRunner"].run)
    assert "self._run(" in src
    # _release_datasets frees an intermediate MemoryDataset once its last consumer ran
    catalog = DataCatalog({"a": MemoryDataset(1), "b": MemoryDataset(2), "c": MemoryDataset()})
    n1, n2 = node(lambda a: a, "a", "b", name="first"), node(lambda b: b, "b", "c", name="second")
    pipe = Pipeline([n1, n2])
    kedro_api.release_datasets(runner, n2, catalog, Counter({"b": 1}), pipe)
    with pytest.raises(DatasetError, match="has not been saved|no data"):
        catalog.load("b")
    assert catalog.load("a") == 1   # pipeline inputs are kept


def test_dataset_internals_give_local_paths_and_configs(tmp_path: Path) -> None:
    pq = ParquetDataset(filepath=str(tmp_path / "t.parquet"), save_args={"compression": "zstd"})
    assert dataset_local_path(pq) == tmp_path / "t.parquet"
    assert '"compression":"zstd"' in dataset_config(pq)
    remote = ParquetDataset(filepath=str(tmp_path / "r.parquet"))
    remote._protocol = "gcs"        # what an s3:// / gs:// filepath sets (no cloud client installed here)
    assert kedro_api.fsspec_protocol(ParquetDataset(filepath=str(tmp_path / "l.parquet"))) == "file"
    assert dataset_local_path(remote) is None
    assert dataset_local_path(MemoryDataset()) is None

    parts = PartitionedDataset(path=str(tmp_path / "parts"), dataset="pandas.CSVDataset")
    assert dataset_local_path(parts) == tmp_path / "parts"

    from kedro.io import Version

    versioned = JSONDataset(filepath=str(tmp_path / "v.json"), version=Version(None, None))
    assert kedro_api.is_versioned(versioned)
    assert dataset_local_path(versioned).name == "<no-version>"   # nothing saved yet: a missing file
    versioned.save({"a": 1})
    loaded = dataset_local_path(versioned)
    assert loaded.is_file() and loaded.parent.parent == tmp_path / "v.json"
    assert isinstance(kedro_api.versioned_path(versioned, for_save=False), PurePath)
    assert pd.api.types.is_dict_like(kedro_api.describe(versioned))
