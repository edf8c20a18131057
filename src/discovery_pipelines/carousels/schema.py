"""JSON shapes of the carousel pipeline: what a generator (rules or LLM) must return, what a juror
answers, and what query rewriting / collection generation return. Every LLM answer is validated with
these pydantic models (``extra="forbid"``); their JSON schema is sent as ``response_format``.

Metadata fields are aligned to the histories products table (:mod:`discovery_pipelines.data.histories`):
``department``, ``category``, ``product_type`` (seed 004, Table 1: a title plus metadata in the
merchant-profile fields).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAYPARTS = ("breakfast", "lunch", "dinner", "late")
Daypart = Literal["breakfast", "lunch", "dinner", "late"]
"""Parts of day from the basket hour (see :func:`discovery_pipelines.carousels.profiles.daypart_of`)."""


def _clean_list(v: list[str]) -> list[str]:
    out: list[str] = []
    for s in v:
        s = " ".join(str(s).split())
        if s and s not in out:
            out.append(s)
    return out


class CarouselMetadata(BaseModel):
    """Catalogue-aligned metadata of one carousel (each list 0..8 names of that catalogue field)."""

    model_config = ConfigDict(extra="forbid")
    department: list[str] = Field(default_factory=list, max_length=8)
    category: list[str] = Field(default_factory=list, max_length=8)
    product_type: list[str] = Field(default_factory=list, max_length=8)

    _c = field_validator("department", "category", "product_type")(classmethod(lambda cls, v: _clean_list(v)))

    def text(self) -> str:
        """The metadata as one line for the text model (``category: a, b | product_type: c``)."""
        parts = [f"{k}: {', '.join(v)}" for k, v in (("department", self.department), ("category", self.category),
                                                      ("product_type", self.product_type)) if v]
        return " | ".join(parts)


class Carousel(BaseModel):
    """One carousel: a short title (2-60 characters, at most 8 words) and its metadata."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=2, max_length=60)
    metadata: CarouselMetadata

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v.split()) > 8:
            raise ValueError(f"title has {len(v.split())} words (max 8)")
        return v


class CarouselAnswer(BaseModel):
    """The generator's answer for one user: the echoed ``user_id`` and 1..12 carousels."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=64)
    carousels: list[Carousel] = Field(min_length=1, max_length=12)


class JurorVerdict(BaseModel):
    """One juror's decision on one title (``title_id`` echoed so an answer cannot be misattributed)."""

    model_config = ConfigDict(extra="forbid")
    title_id: str = Field(min_length=1, max_length=64)
    verdict: Literal["allow", "block"]
    reason: str = Field(default="", max_length=80)


class RewrittenQuery(BaseModel):
    """A rewritten search query for an ambiguous query, given the user's profile."""

    model_config = ConfigDict(extra="forbid")
    query_id: str = Field(min_length=1, max_length=64)
    rewritten: str = Field(min_length=1, max_length=80)


class CollectionChoice(BaseModel):
    """Collection generation over a catalogue slice: the chosen names of one catalogue level."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=64)
    chosen: list[str] = Field(min_length=1, max_length=10)
