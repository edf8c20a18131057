"""Typed ``log_mining`` parameters (``conf/base/parameters_log_mining.yml``), validated by pydantic.

``events.path`` is an :data:`~discovery_pipelines.data.paths.InputPath`: with ``simulate: false`` it
names an external event log, so the stage cache hashes the folder's content and new events at the
same path re-run the mining.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from discovery_pipelines.data.paths import InputPath, parameters_schema


class RankerParams(BaseModel):
    """BM25 ranker whose top-``k`` lists the simulator shows (Robertson & Zaragoza 2009)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1)
    k1: float = 1.5
    b: float = 0.75


class EventsParams(BaseModel):
    """Where the events come from: simulated into ``path`` (``simulate: true``) or read from it."""

    model_config = ConfigDict(extra="forbid")
    simulate: bool = True
    path: InputPath
    n_events: int = Field(2_000_000, ge=1)
    n_days: int = Field(7, ge=1)
    start_date: str = "2024-01-01"
    seed: int = 0
    chunk_events: int = Field(1_000_000, ge=1)
    ranker: RankerParams = RankerParams()
    click_model: dict[str, float] | None = None     # keys checked by ClickModel.from_params
    corruption: dict[str, float] | None = None      # kinds checked by simulate_events


@parameters_schema("log_mining")
class LogMiningParams(BaseModel):
    """The ``log_mining`` block: ``events``, ``mining`` (engine + thresholds) and ``quality``."""

    model_config = ConfigDict(extra="forbid")
    events: EventsParams
    mining: dict[str, Any] = {}
    quality: dict[str, Any] = {}
