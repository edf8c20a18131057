"""Data shapes of synthetic-pair generation: requests, LLM answer schemas and the pairs table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

PAIR_COLUMNS = ["query", "product_id", "group", "language", "source", "generator", "template_version",
                "request_id"]
"""Columns of a generated-pairs table (all str). ``source`` is always ``"synthetic"``."""


@dataclass(frozen=True)
class GenerationRequest:
    """Ask for ``n`` queries of failure group ``group`` in ``language`` for one product.

    ``request_id`` is unique within a run and deterministic (group, language, product, ordinal).
    ``title`` is untrusted catalogue text: generators must treat it as data, never as instructions.
    """

    request_id: str
    product_id: str
    title: str
    group: str
    language: str
    n: int = 2
    attributes: str | None = None


def requests_frame(requests: list[GenerationRequest]) -> pd.DataFrame:
    """Requests as a DataFrame (one row per request, columns = dataclass fields)."""
    return pd.DataFrame([r.__dict__ for r in requests],
                        columns=["request_id", "product_id", "title", "group", "language", "n", "attributes"])


def requests_from_frame(df: pd.DataFrame) -> list[GenerationRequest]:
    """Inverse of :func:`requests_frame`."""
    return [GenerationRequest(str(r.request_id), str(r.product_id), str(r.title), str(r.group), str(r.language),
                              int(r.n), None if pd.isna(r.attributes) else str(r.attributes))
            for r in df.itertuples(index=False)]


def empty_pairs() -> pd.DataFrame:
    """A pairs table with no rows and :data:`PAIR_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in PAIR_COLUMNS})


class GeneratedQueries(BaseModel):
    """The JSON object an LLM must return for one product (strict: no other keys).

    ``product_id`` must echo the request's id (checked by the generator): an answer about another
    product, e.g. steered there by instructions hidden in a title, is dropped.
    """

    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=64)
    queries: list[str] = Field(min_length=1, max_length=10)

    @field_validator("queries")
    @classmethod
    def _clean(cls, v: list[str]) -> list[str]:
        out = []
        for q in v:
            if not isinstance(q, str):
                raise ValueError("each query must be a string")
            q = " ".join(q.split())
            if not q or len(q) > 120:
                raise ValueError(f"query length must be 1..120 characters, got {len(q)}")
            out.append(q)
        return out


class JuryVerdict(BaseModel):
    """A juror's answer for one (query, product) pair: relevant or not (with a 0-3 grade)."""

    model_config = ConfigDict(extra="forbid")
    pair_id: str = Field(min_length=1, max_length=64)
    relevant: bool
    grade: int = Field(ge=0, le=3)


class ClusterName(BaseModel):
    """A short name (2-4 words) for a cluster of failing queries."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=40)
