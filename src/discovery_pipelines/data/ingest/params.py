"""Typed ``ingest`` parameters (``conf/base/parameters_ingest.yml``), validated by pydantic.

``path`` and the ``tables`` file paths are :data:`~discovery_pipelines.data.paths.InputPath`: the stage
cache hashes the content of the source folder / files, so new raw data at the same path re-runs ingest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from discovery_pipelines.data.params import Params
from discovery_pipelines.data.paths import InputPath, parameters_schema


class TablesParams(Params):
    """``source: tables``: contract tables as CSV / TSV / Parquet files (:func:`load_tables`)."""

    products: InputPath
    queries: InputPath | None = None
    qrels: InputPath | None = None
    rename: dict[str, dict[str, str]] | None = None
    name: str = "generic"


class SplitParams(Params):
    """Deterministic query split by normalised text (:func:`data.splits.assign_splits`)."""

    fractions: dict[str, float]
    salt: str = "discovery"

    @field_validator("fractions")
    @classmethod
    def _sum_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if abs(sum(v.values()) - 1.0) > 1e-6 or any(x < 0 for x in v.values()):
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {v}")
        return v


@parameters_schema("ingest")
class IngestParams(Params):
    """The ``ingest`` block: which adapter reads which folder, optional caps, the split."""

    source: Literal["home_depot", "wands", "esci", "esci_judgments", "instacart", "beir", "tables"]
    path: InputPath
    esci_gains: Literal["esci_paper", "amazon_baseline"] = "esci_paper"
    download: bool = False
    max_queries: int | None = Field(None, ge=1)
    max_products: int | None = Field(None, ge=1)
    tables: TablesParams | None = None
    splits: SplitParams
