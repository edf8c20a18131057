"""Nodes of ``failure_analysis``: thin wrappers over :mod:`discovery_pipelines.failure_analysis`."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from discovery_pipelines.data.params import validate
from discovery_pipelines.failure_analysis import analyse_failures, build_report
from discovery_pipelines.failure_analysis.params import ClusterNaming, FailureAnalysisParams

log = logging.getLogger(__name__)


def _cluster_namer(cfg: ClusterNaming) -> Any:
    """An LLM generator whose ``name_cluster`` names clusters when ``cluster_naming.use_llm`` and a
    model is configured, else None."""
    if not cfg.use_llm:
        return None
    from discovery_pipelines.synthetic.generators import OpenAIGenerator
    from discovery_pipelines.synthetic.llm import load_credentials, resolve_llm_settings

    settings = resolve_llm_settings(dict(cfg.llm), load_credentials(cfg.credentials_key))
    if settings is None:
        log.warning("cluster_naming.use_llm is set but no LLM model is configured: naming by top terms")
        return None
    return OpenAIGenerator(settings)


def build_failure_groups(evaluate_per_query: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                         products: pd.DataFrame, params: dict[str, Any],
                         ) -> tuple[pd.DataFrame, pd.DataFrame, str, dict[str, Any], Any]:
    """Per-query failure groups (train + dev queries), per-group stats and their report.

    Returns:
        ``(failure_groups, failure_group_stats, report_md, report_json, not_good_plot)``; see
        :class:`discovery_pipelines.failure_analysis.FailureAnalysis` and
        :func:`discovery_pipelines.failure_analysis.build_report`.
    """
    p = validate(FailureAnalysisParams, params, "failure_analysis")
    namer = _cluster_namer(p.cluster_naming)
    fa = analyse_failures(
        evaluate_per_query, queries, qrels, products, retriever=p.retriever, eval_split=p.eval_split,
        train_split=p.train_split, model=p.model, n_clusters=p.n_clusters, min_cluster_size=p.min_cluster_size,
        vocab_min_count=p.vocab_min_count, n_examples=p.n_examples, random_state=p.random_state,
        namer=namer.name_cluster if namer else None,
    )
    if namer is not None:  # retries, bad answers and drops of the naming calls, in the report's meta
        fa.meta["cluster_naming_llm"] = namer.client.accounting()
    log.info("failure analysis: %s Not Good of %s dev queries", fa.meta["n_not_good"], fa.meta["n_dev_queries"])
    return fa.groups, fa.stats, *build_report(fa)
