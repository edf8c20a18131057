"""Generators behind one interface: ``Generator.generate(requests) -> pairs DataFrame``.

* :class:`~discovery_pipelines.synthetic.rules.RulesGenerator` (``rules``): offline, deterministic.
* :class:`OpenAIGenerator` (``openai``): any OpenAI-compatible chat endpoint (OpenAI, vLLM, a local
  llama.cpp server with a GGUF model: see ``docs/local_llm.md``), one product per request; the
  answer must echo the request's product id, so text injected into one title can neither change the
  output format nor reach another product's pairs.

:func:`make_generator` picks one from parameters, falling back to ``rules`` when ``openai`` is asked
for but no model is configured (logged, and visible in the report's ``generator`` column).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import pandas as pd

from discovery_pipelines.synthetic.llm import ChatClient, LLMSettings, resolve_llm_settings
from discovery_pipelines.synthetic.prompts import render_generation, render_named
from discovery_pipelines.synthetic.rules import RulesGenerator
from discovery_pipelines.synthetic.schema import (
    PAIR_COLUMNS,
    ClusterName,
    GeneratedQueries,
    GenerationRequest,
)

log = logging.getLogger(__name__)


class Generator(Protocol):
    """What every generator offers. ``stats`` holds counts for the report."""

    name: str
    stats: Mapping[str, Any]

    def generate(self, requests: list[GenerationRequest]) -> pd.DataFrame:
        """One row per generated (query, product) pair, columns :data:`schema.PAIR_COLUMNS`."""
        ...


class OpenAIGenerator:
    """Queries from an OpenAI-compatible chat model; see module doc.

    Args:
        settings: :class:`LLMSettings` (or an existing :class:`ChatClient` via ``client``).
        hints: ``{group: hint text}`` for cluster groups (their top terms / examples).
    """

    def __init__(self, settings: LLMSettings | None = None, *, client: ChatClient | None = None,
                 hints: Mapping[str, str] | None = None) -> None:
        if client is None and settings is None:
            raise ValueError("OpenAIGenerator needs settings or a client")
        self.client = client or ChatClient(settings)  # type: ignore[arg-type]
        self.name = f"openai:{self.client.settings.model}"
        self.hints = dict(hints or {})
        self.stats: dict[str, Any] = {}

    def generate(self, requests: list[GenerationRequest]) -> pd.DataFrame:
        jobs, versions = [], []
        for r in requests:
            msgs, ver = render_generation(r.language, r.group, product_id=r.product_id, title=r.title, n=r.n,
                                          hint=self.hints.get(r.group, ""))
            versions.append(ver)

            def check(parsed: Any, _r: GenerationRequest = r) -> None:
                if parsed.product_id.strip() != _r.product_id:
                    raise ValueError(f"answer names product {parsed.product_id!r}, asked {_r.product_id!r}")
                if len(parsed.queries) > 2 * _r.n:
                    raise ValueError(f"{len(parsed.queries)} queries for n={_r.n}")

            jobs.append((msgs, GeneratedQueries, check))
        results = self.client.map(jobs, desc="generate (LLM)")
        rows = []
        for r, ver, res in zip(requests, versions, results):
            if res.parsed is None:
                continue
            for q in list(dict.fromkeys(res.parsed.queries))[: r.n]:  # type: ignore[attr-defined]
                rows.append((q.lower(), r.product_id, r.group, r.language, "synthetic", self.name, ver, r.request_id))
        self.stats = {"requests": len(requests), "pairs": len(rows),
                      "requests_dropped": sum(res.parsed is None for res in results),
                      **self.client.accounting()}
        return pd.DataFrame(rows, columns=PAIR_COLUMNS)

    def name_cluster(self, terms: list[str], examples: list[str], language: str = "en") -> str | None:
        """A 2-4 word name for a query cluster, or ``None`` when the model gives no valid answer."""
        msgs, _ = render_named(language, "cluster_name", {"terms": ", ".join(terms),
                                                          "examples": "\n".join(f"- {e}" for e in examples)})
        res = self.client.complete(msgs, ClusterName)
        return res.parsed.name if res.parsed is not None else None  # type: ignore[attr-defined]


def make_generator(params: Mapping[str, Any], *, brands: Iterable[str] = (),
                   credentials: Mapping[str, Any] | None = None,
                   hints: Mapping[str, str] | None = None) -> Generator:
    """Generator named by ``params['backend']`` (``rules`` | ``openai``).

    ``openai`` with no model configured (params, credentials or ``DISCOVERY_LLM_MODEL``) falls back to
    ``rules`` with a warning; ``params['llm']`` holds :class:`LLMSettings` fields.

    Raises:
        ValueError: unknown backend.
    """
    backend = str(params.get("backend", "rules"))
    if backend == "rules":
        return RulesGenerator(brands)
    if backend == "openai":
        settings = resolve_llm_settings(params.get("llm", {}), credentials)
        if settings is None:
            log.warning("synthetic backend 'openai' asked for but no model configured "
                        "(DISCOVERY_LLM_MODEL / credentials); using the offline 'rules' backend")
            return RulesGenerator(brands)
        return OpenAIGenerator(settings, hints=hints)
    raise ValueError(f"synthetic.generator.backend must be 'rules' or 'openai', got {backend!r}")
