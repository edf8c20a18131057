"""Typed parameters: the pydantic base of every pipeline's parameter schema, and their validation.

Each ``conf/base/parameters_<pipeline>.yml`` block has a model registered with
:func:`discovery_pipelines.data.paths.parameters_schema` (``ingest``, ``log_mining``, ``evaluate``,
``failure_analysis``, ``synthetic``, ``finetune``), owned by the domain package it configures. Models derive
from :class:`Params` (``extra="forbid"``), so a misspelt key is an error naming the key, never a silent
default. :class:`discovery_pipelines.hooks.ParametersHooks` validates every block when the Kedro context is
created (before any node runs); nodes call :func:`validate` on their block and read attributes, so each
default lives once, in the model.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)

SCHEMA_MODULES = (
    "discovery_pipelines.data.ingest.params",
    "discovery_pipelines.log_mining.params",
    "discovery_pipelines.search.params",
    "discovery_pipelines.failure_analysis.params",
    "discovery_pipelines.synthetic.params",
    "discovery_pipelines.finetune.params",
)
"""Modules whose import registers the project's parameter schemas."""


class Params(BaseModel):
    """Base of every parameter model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ParameterError(ValueError):
    """A parameter block does not match its schema; the message names every failing dotted key."""


def validate(model: type[M], params: Mapping[str, Any] | BaseModel | None, where: str) -> M:
    """``model`` validated from ``params`` (a Kedro parameter mapping, or already an instance).

    Args:
        model: the pydantic model of the block.
        params: the mapping (``None`` = all defaults).
        where: dotted name of the block in the parameters files (e.g. ``finetune.negatives``), for errors.

    Raises:
        ParameterError: naming each failing key as ``where.key`` with pydantic's reason, e.g.
            ``finetune.augment.typo_rat: Extra inputs are not permitted (got 0.1)``.
    """
    if isinstance(params, model):
        return params
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        lines = [f"{'.'.join([where, *map(str, e['loc'])])}: {e['msg']} (got {e.get('input')!r})"
                 for e in exc.errors()]
        raise ParameterError(f"invalid parameters for {where}:\n  " + "\n  ".join(lines)) from None


def project_schemas() -> dict[str, type[BaseModel]]:
    """``{top-level parameter key: model}`` of every pipeline (imports :data:`SCHEMA_MODULES`)."""
    from discovery_pipelines.data.paths import registered_schemas

    for name in SCHEMA_MODULES:
        importlib.import_module(name)
    return registered_schemas()


def validate_all(parameters: Mapping[str, Any]) -> dict[str, BaseModel]:
    """Validate every block of ``parameters`` that has a schema; returns ``{key: model instance}``.

    Raises:
        ParameterError: for the first block that fails, naming its bad keys.
    """
    return {key: validate(model, parameters[key], key)
            for key, model in project_schemas().items() if key in parameters}
