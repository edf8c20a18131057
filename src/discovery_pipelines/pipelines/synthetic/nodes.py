"""Nodes of ``synthetic``: budget -> generation -> quality control + report.

Thin wrappers over :mod:`discovery_pipelines.synthetic`; every tunable comes from
``params:synthetic`` (see ``conf/base/parameters_synthetic.yml``). Connection settings for an LLM come
from Kedro credentials (key ``generator.credentials_key``) or environment variables, never params.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from discovery_pipelines.data.params import validate
from discovery_pipelines.failure_analysis.vocab import Vocabulary
from discovery_pipelines.synthetic.budget import allocate_budget, print_budget
from discovery_pipelines.synthetic.generators import OpenAIGenerator, make_generator
from discovery_pipelines.synthetic.llm import ChatClient, load_credentials, resolve_llm_settings
from discovery_pipelines.synthetic.planning import languages_of, plan_requests, trim_to_budget
from discovery_pipelines.synthetic.qc import LLMJury, RulesJury, acceptance_by_group, quality_control
from discovery_pipelines.synthetic.report import build_synthetic_report
from discovery_pipelines.synthetic.params import SyntheticParams
from discovery_pipelines.synthetic.schema import requests_frame

log = logging.getLogger(__name__)


def plan_budget(failure_group_stats: pd.DataFrame, products: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Budget table (group, language, ..., n_pairs) summing to ``params['total_pairs']``; printed with rich."""
    p = validate(SyntheticParams, params, "synthetic")
    langs = p.languages or languages_of(products, p.allowed_languages)
    budget = allocate_budget(
        failure_group_stats, p.total_pairs, languages=langs, group_factors=p.group_factors,
        language_factors=p.language_factors, gap_floor=p.gap_floor, min_queries=p.min_queries,
        exclude_groups=tuple(p.exclude_groups),
    )
    print_budget(budget)
    return budget


def generate_pairs(synthetic_budget: pd.DataFrame, failure_groups: pd.DataFrame, products: pd.DataFrame,
                   qrels: pd.DataFrame,
                   params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Generate raw pairs for the budget with the configured backend.

    Returns:
        ``(synthetic_pairs_raw, generation_stats)``; stats hold counts, tokens, cost, timings.
    """
    p = validate(SyntheticParams, params, "synthetic")
    vocab = Vocabulary.from_titles(products["title"].astype(str))
    t0 = time.perf_counter()
    requests = plan_requests(
        synthetic_budget, failure_groups, products, qrels, vocab=vocab, queries_per_product=p.queries_per_product,
        overshoot=p.overshoot, min_gain=p.min_gain, catalogue_sample=p.catalogue_sample, seed=p.seed,
    )
    plan_s = time.perf_counter() - t0
    # Cluster groups are described to an LLM by their name (c-TF-IDF terms) only: dev query texts
    # never go into generation prompts, so the generator cannot copy them.
    gen = make_generator(p.generator.model_dump(), brands=vocab.brands,
                         credentials=load_credentials(p.generator.credentials_key))
    t1 = time.perf_counter()
    pairs = gen.generate(requests)
    gen_s = time.perf_counter() - t1
    stats = {"generator": gen.name, "n_requests": len(requests), "n_pairs": len(pairs), "plan_s": plan_s,
             "generate_s": gen_s, "seconds_per_1000_pairs": gen_s / max(1, len(pairs)) * 1000,
             **{f"gen_{k}": v for k, v in dict(gen.stats).items()}}
    log.info("generated %d pairs from %d requests with %s in %.2f s", len(pairs), len(requests), gen.name, gen_s)
    if not isinstance(gen, OpenAIGenerator):
        stats["requests_sample"] = requests_frame(requests[:5]).to_dict(orient="records")
    return pairs, stats


def _jury(p: SyntheticParams) -> Any:
    j = p.qc.jury
    rules = RulesJury(min_overlap=j.min_overlap, fuzzy=j.fuzzy, min_cosine=j.min_cosine, model=j.model)
    if j.backend == "llm":
        settings = resolve_llm_settings({**p.generator.llm, **j.llm}, load_credentials(p.generator.credentials_key))
        if settings is not None:
            return LLMJury(ChatClient(settings), n_jurors=j.n_jurors, veto=j.veto, fallback=rules)
        log.warning("qc.jury.backend=llm but no LLM model configured: using the rules jury")
    return rules


def quality_control_pairs(synthetic_pairs_raw: pd.DataFrame, products: pd.DataFrame, queries: pd.DataFrame,
                          synthetic_budget: pd.DataFrame, generation_stats: dict[str, Any],
                          params: dict[str, Any],
                          ) -> tuple[pd.DataFrame, pd.DataFrame, str, dict[str, Any], Any]:
    """QC (length, language, dedupe, leakage vs dev/holdout, jury), trim to budget, and the report.

    Returns:
        ``(synthetic_pairs, synthetic_qc, report_md, report_json, acceptance_plot)``: accepted pairs (query,
        product_id, group, language, source, generator, template_version, request_id), the full audit
        table with ``accepted`` / ``reject_reason``, and :func:`synthetic.report.build_synthetic_report`.
    """
    p = validate(SyntheticParams, params, "synthetic")
    eval_q = queries.loc[queries["split"].isin(p.qc.leakage_splits), "text"]
    titles = dict(zip(products["product_id"].astype(str), products["title"].astype(str)))
    jury = _jury(p)
    t = time.perf_counter()
    qc = quality_control(synthetic_pairs_raw, titles, eval_q, jury, min_chars=p.qc.min_chars,
                         max_chars=p.qc.max_chars, min_tokens=p.qc.min_tokens, max_tokens=p.qc.max_tokens)
    qc_s = time.perf_counter() - t
    final = trim_to_budget(qc[qc["accepted"]].drop(columns=["accepted", "reject_reason"]), synthetic_budget,
                           seed=p.seed)
    acc = acceptance_by_group(qc) if len(qc) else pd.DataFrame(
        columns=["group", "language", "generated", "accepted", "acceptance_rate", "length", "wrong_language",
                 "duplicate", "leakage", "jury"])
    gen_stats = {k: v for k, v in generation_stats.items() if k != "requests_sample"}
    md, js, fig = build_synthetic_report(
        synthetic_budget, acc, qc, final, gen_stats, dict(jury.stats),
        {"generate_s": float(generation_stats.get("generate_s", 0.0)), "qc_s": qc_s},
        budget_text=print_budget(synthetic_budget, echo=False))
    log.info("synthetic QC: %d generated, %d accepted, %d kept", len(qc), int(qc["accepted"].sum()), len(final))
    return final.reset_index(drop=True), qc, md, js, fig
