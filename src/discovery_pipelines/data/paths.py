"""Parameter types for locations of files and folders, and the registry the stage cache reads.

A parameter that names a file or folder the pipeline *reads* (a raw source folder, an external event
log, a local model folder) must be content-hashed by the stage cache, or new data at the same path
would not re-run anything. The preferred way is to read raw inputs through catalog datasets (every
catalog input is content-hashed). Where a location has to stay a parameter, declare it in the
pipeline's pydantic parameter model with the :data:`InputPath` type and register the model with
:func:`parameters_schema`::

    @parameters_schema("ingest")
    class IngestParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        tables: TablesParams            # nested models are followed

    class TablesParams(BaseModel):
        products: InputPath             # -> the cache hashes ingest.tables.products by content
        sep: str = ","

The cache (:mod:`discovery_pipelines.stage_cache.fingerprint`) then hashes the bytes of the named
file or folder with every ``params:`` input that contains that key, so declaring the type is the
whole job; there is no separate list to keep in sync. Output and scratch locations (cache folders,
checkpoint folders) stay plain ``str``: their content is not an input.

The module has no Kedro dependency, so domain packages can import it.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel


@dataclass(frozen=True)
class ContentHashed:
    """``Annotated`` marker: the file or folder this string names is an input whose content counts."""


InputPath = Annotated[str, ContentHashed()]
"""A local file or folder the pipeline reads; the stage cache hashes its content (SHA-256)."""

_SCHEMAS: dict[str, type[BaseModel]] = {}
_RESOLVERS: list[Callable[[str], Path | None]] = []


def register_path_resolver(fn: Callable[[str], Path | None]) -> Callable[[str], Path | None]:
    """Register ``fn(value) -> Path | None`` that maps an :data:`InputPath` value which is not a path to the
    file or folder it stands for (e.g. a packaged model name to its installed weights folder). Returns ``fn``."""
    if fn not in _RESOLVERS:
        _RESOLVERS.append(fn)
    return fn


def resolve_input_path(value: str | os.PathLike[str]) -> Path:
    """The file or folder an :data:`InputPath` value names: the path itself when it exists, else the first
    registered resolver's answer (:func:`register_path_resolver`), else the value as a (missing) path."""
    path = Path(value)
    if path.exists():
        return path
    for fn in _RESOLVERS:
        found = fn(str(value))
        if found is not None:
            return Path(found)
    return path


def parameters_schema(key: str):
    """Class decorator: register a pydantic model as the schema of the top-level parameters ``key``.

    Returns the class unchanged. Registering a second, different model for the same key raises
    ``ValueError`` (two schemas for one block would disagree on what is a path).
    """

    def register(model: type[BaseModel]) -> type[BaseModel]:
        old = _SCHEMAS.get(key)
        if old is not None and old.__qualname__ != model.__qualname__:
            raise ValueError(f"parameters '{key}' already have the schema {old.__module__}.{old.__qualname__}")
        _SCHEMAS[key] = model
        return model

    return register


def registered_schemas() -> dict[str, type[BaseModel]]:
    """``{top-level parameters key: pydantic model}`` of every registered schema (a copy)."""
    return dict(_SCHEMAS)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds directly or through ``Optional`` / ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def _is_content(annotation: Any) -> bool:
    """True for ``InputPath`` and for unions holding it (``InputPath | None``)."""
    if typing.get_origin(annotation) is Annotated:
        return any(isinstance(m, ContentHashed) for m in annotation.__metadata__)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_content(a) for a in typing.get_args(annotation))
    return False


def content_paths_of(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys (below ``prefix``) of every :data:`InputPath` (or ``InputPath | None``) field of
    ``model``, nested models followed (also through ``Optional``), sorted."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if any(isinstance(m, ContentHashed) for m in field.metadata) or _is_content(field.annotation):
            keys.append(key)
            continue
        for sub in _models_in(field.annotation):
            keys.extend(content_paths_of(sub, key))
    return sorted(set(keys))


def content_hashed_keys() -> list[str]:
    """Dotted parameter keys (e.g. ``ingest.path``) declared :data:`InputPath` by the registered schemas."""
    return sorted({k for key, model in _SCHEMAS.items() for k in content_paths_of(model, key)})
