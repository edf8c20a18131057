"""Typed ``ingest`` parameters (``conf/base/parameters_ingest.yml``), validated by pydantic.

``path`` and the ``tables`` file paths are :data:`~discovery_pipelines.data.paths.InputPath`: the stage
cache hashes the content of the source folder / files, so new raw data at the same path re-runs ingest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from discovery_pipelines.data.paths import InputPath, parameters_schema


class TablesParams(BaseModel):
    """``source: tables``: contract tables as CSV / TSV / Parquet files (:func:`load_tables`)."""

    model_config = ConfigDict(extra="forbid")
    products: InputPath
    queries: InputPath | None = None
    qrels: InputPath | None = None
    rename: dict[str, dict[str, str]] | None = None
    name: str = "generic"


class SplitParams(BaseModel):
    """Deterministic query split by normalised text (:func:`data.splits.assign_splits`)."""

    model_config = ConfigDict(extra="forbid")
    fractions: dict[str, float]
    salt: str = "discovery"


@parameters_schema("ingest")
class IngestParams(BaseModel):
    """The ``ingest`` block: which adapter reads which folder, optional caps, the split."""

    model_config = ConfigDict(extra="forbid")
    source: str
    path: InputPath
    esci_gains: str = "esci_paper"
    download: bool = False
    max_queries: int | None = Field(None, ge=1)
    max_products: int | None = Field(None, ge=1)
    tables: TablesParams | None = None
    on_unknown_ids: Literal["reject", "drop"] = Field(
        "reject", description="qrels naming an unknown query or product: reject (error) or drop (counted)")
    splits: SplitParams
