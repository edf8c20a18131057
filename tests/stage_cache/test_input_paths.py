"""Guard: every parameter of the project that names raw data (a file or folder under the data root)
is declared ``InputPath`` by a registered parameter schema, so the stage cache hashes its content.

A new pipeline that reads a raw folder through a plain ``str`` parameter fails here, naming the key.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

from kedro.config import OmegaConfigLoader

import discovery_pipelines.pipelines
from discovery_pipelines.data.paths import content_hashed_keys
from discovery_pipelines.settings import CONFIG_LOADER_ARGS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _string_leaves(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _string_leaves(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _string_leaves(v, key)
    elif isinstance(value, str):
        yield key, value


def test_parameters_naming_raw_data_are_declared_input_paths(monkeypatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)   # relative paths in the conf are relative to the project root
    for mod in pkgutil.iter_modules(discovery_pipelines.pipelines.__path__):
        importlib.import_module(f"discovery_pipelines.pipelines.{mod.name}.pipeline")   # registers schemas
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **CONFIG_LOADER_ARGS)
    data_root = Path(loader["globals"]["data_root"]).resolve()
    assert data_root.is_dir(), f"data root {data_root} not found (set DISCOVERY_DATA_ROOT)"
    declared = set(content_hashed_keys())
    raw = {key for key, value in _string_leaves(loader["parameters"])
           if os.sep in value and Path(value).exists() and Path(value).resolve().is_relative_to(data_root)}
    assert {"ingest.path", "multimodal.evaluation.image_root"} <= raw   # the guard sees what it guards
    assert raw <= declared, f"parameters naming raw data but not declared InputPath: {sorted(raw - declared)}"


def test_schema_walk_finds_optional_and_nested_input_paths() -> None:
    from pydantic import BaseModel, ConfigDict

    from discovery_pipelines.data.paths import InputPath, content_paths_of

    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid")
        folder: InputPath
        weights: InputPath | None = None
        cache_dir: str = "data/cache"           # an output location: not an input

    class Outer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        source: InputPath
        inner: Inner
        maybe: Inner | None = None
        label: str = "x"

    assert content_paths_of(Outer, "blk") == [
        "blk.inner.folder", "blk.inner.weights", "blk.maybe.folder", "blk.maybe.weights", "blk.source"]


def test_a_packaged_model_name_is_hashed_by_its_installed_weights(tmp_path, minilm_path) -> None:
    import discovery_pipelines.search.models  # noqa: F401  (registers the packaged-model resolver)
    from discovery_pipelines.data.io import path_digest
    from discovery_pipelines.stage_cache import StateStore
    from discovery_pipelines.stage_cache.fingerprint import parameter_part

    store = StateStore(tmp_path / "cache")
    key = "finetune.models.production"
    by_name = parameter_part("params:finetune.models", {"production": "all-MiniLM-L6-v2"}, [key], store)
    assert by_name[f"path:{key}"] == path_digest(minilm_path)   # not "<missing>": the weights count
    by_folder = parameter_part("params:finetune.models", {"production": str(minilm_path)}, [key], store)
    assert by_folder[f"path:{key}"] == by_name[f"path:{key}"]
    gone = parameter_part("params:finetune.models", {"production": str(tmp_path / "nope")}, [key], store)
    assert gone[f"path:{key}"] == "<missing>"
