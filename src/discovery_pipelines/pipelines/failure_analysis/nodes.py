"""Nodes of ``failure_analysis``: thin wrappers over :mod:`discovery_pipelines.failure_analysis`."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from discovery_pipelines.failure_analysis import analyse_failures, build_report

log = logging.getLogger(__name__)


def _cluster_namer(params: dict[str, Any]) -> Any:
    """An LLM generator whose ``name_cluster`` names clusters when ``cluster_naming.use_llm`` and a
    model is configured, else None."""
    cfg = params.get("cluster_naming") or {}
    if not cfg.get("use_llm"):
        return None
    from discovery_pipelines.synthetic.generators import OpenAIGenerator
    from discovery_pipelines.synthetic.llm import load_credentials, resolve_llm_settings

    settings = resolve_llm_settings(cfg.get("llm", {}), load_credentials(cfg.get("credentials_key", "synthetic_llm")))
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
    namer = _cluster_namer(params)
    fa = analyse_failures(
        evaluate_per_query, queries, qrels, products,
        retriever=params.get("retriever", "dense"), eval_split=params.get("eval_split", "dev"),
        train_split=params.get("train_split", "train"), model=params.get("model", "all-MiniLM-L6-v2"),
        n_clusters=int(params.get("n_clusters", 8)), min_cluster_size=int(params.get("min_cluster_size", 5)),
        vocab_min_count=int(params.get("vocab_min_count", 3)), n_examples=int(params.get("n_examples", 5)),
        random_state=int(params.get("random_state", 0)), namer=namer.name_cluster if namer else None,
    )
    if namer is not None:  # retries, bad answers and drops of the naming calls, in the report's meta
        fa.meta["cluster_naming_llm"] = namer.client.accounting()
    log.info("failure analysis: %s Not Good of %s dev queries", fa.meta["n_not_good"], fa.meta["n_dev_queries"])
    return fa.groups, fa.stats, *build_report(fa)
