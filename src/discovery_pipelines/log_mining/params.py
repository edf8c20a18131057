"""Typed ``log_mining`` parameters (``conf/base/parameters_log_mining.yml``), validated by pydantic.

The events folder is the catalog entry ``log_mining.events`` (simulated into it with ``simulate: true``,
read from it as it is otherwise); the stage cache hashes its content, so new events at the same path
re-run the mining. The click model (:class:`~discovery_pipelines.log_mining.click_model.ClickModel`)
and the mining thresholds (:class:`~discovery_pipelines.log_mining.mining.MiningParams`) are parameter
models themselves.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import parameters_schema
from discovery_pipelines.log_mining.click_model import CORRUPTION_KINDS, ClickModel
from discovery_pipelines.log_mining.mining import MiningParams


class RankerParams(Params):
    """BM25 ranker whose top-``k`` lists the simulator shows (Robertson & Zaragoza 2009)."""

    k: int = Field(10, ge=1)
    k1: float = 1.5
    b: float = 0.75


class EventsParams(Params):
    """Whether the events are simulated into the catalog's ``log_mining.events`` folder (``simulate: true``)
    or read from it as they are (a real log export there)."""

    simulate: bool = True
    n_events: int = Field(2_000_000, ge=1)
    n_days: int = Field(7, ge=1)
    start_date: str = "2024-01-01"
    seed: int = 0
    chunk_events: int = Field(1_000_000, ge=1)
    ranker: RankerParams = RankerParams()
    click_model: ClickModel = ClickModel()
    corruption: dict[Literal[CORRUPTION_KINDS], float] | None = None  # type: ignore[valid-type]  # rate per clean event


class DuckDBOptions(Params):
    """DuckDB settings; ``threads`` defaults to the CPU budget of the process (``mining.env_threads``)."""

    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = Field(None, ge=1)


class SparkOptions(Params):
    """Spark session settings for ``engine: spark``."""

    master: str = "local[2]"
    conf: dict[str, Any] = Field(default_factory=dict)


class MiningBlock(Params):
    """``log_mining.mining``: the engine, its options and the thresholds."""

    engine: Literal["duckdb", "spark"] = "duckdb"
    #: events naming a product outside the catalogue: ``reject`` (stop, naming count and rows) or ``drop``
    #: (count in the report). ``None``: ``reject`` for external logs, ``drop`` for simulated ones, whose
    #: ``corruption.unknown_product`` rows are injected on purpose.
    on_unknown_ids: Literal["reject", "drop"] | None = None
    params: MiningParams = MiningParams()
    duckdb: DuckDBOptions = DuckDBOptions()
    spark: SparkOptions = SparkOptions()


class QualityParams(Params):
    """``log_mining.quality``: mined positives scored against the qrels."""

    relevant_gain: float = 2.5
    thresholds: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.5], min_length=1)


@parameters_schema("log_mining")
class LogMiningParams(Params):
    """The ``log_mining`` block: ``events``, ``mining`` (engine + thresholds) and ``quality``."""

    events: EventsParams
    mining: MiningBlock = MiningBlock()
    quality: QualityParams = QualityParams()
