"""Failure analysis of retrieval evaluations: rule taxonomy, embedding clusters, coverage, reports.

Usable without Kedro::

    from discovery_pipelines.failure_analysis import analyse_failures, write_report
    fa = analyse_failures(result.per_query, queries, qrels, products, retriever="dense")
    write_report(fa, "data/08_reporting/failure_analysis")
"""

from discovery_pipelines.failure_analysis.analysis import (
    FailureAnalysis,
    analyse_failures,
    build_report,
    write_report,
)
from discovery_pipelines.failure_analysis.taxonomy import RULE_GROUPS, query_groups, title_groups
from discovery_pipelines.failure_analysis.vocab import Vocabulary

__all__ = ["FailureAnalysis", "analyse_failures", "build_report", "write_report", "RULE_GROUPS", "query_groups",
           "title_groups", "Vocabulary"]
