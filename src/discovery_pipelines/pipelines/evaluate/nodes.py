"""Nodes of the ``evaluate`` pipeline."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from discovery_pipelines.data.params import validate  # noqa: E402
from discovery_pipelines.search import evaluation  # noqa: E402
from discovery_pipelines.search.params import EvaluateParams  # noqa: E402
from discovery_pipelines.reporting.figures import metrics_bar_plot, metrics_markdown  # noqa: E402


def evaluate_splits(
    products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate ``params['model']`` on every split in ``params['splits']``
    (:class:`~discovery_pipelines.search.params.EvaluateParams`).

    Returns:
        per_query: rows (retriever, query_id, text, metrics..., verdict, split);
        metrics: ``{retriever: {metric: value}}`` for the first split (dev), plus
        ``{"by_split": {split: {retriever: {...}}}, "timings_s": {split: {stage_s: seconds}}, "model": ...}``.
    """
    p = validate(EvaluateParams, params, "evaluate")
    res = evaluation.evaluate_splits(
        {"production": p.model}, products, queries, qrels, splits=p.splits, retrievers=p.retrievers, k=p.k,
        text_fields=p.text_fields, rel_threshold=p.rel_threshold, good_rule=[c.model_dump() for c in p.good_rule],
        rrf_weights=p.rrf.weights, rrf_c=p.rrf.c, cache_dir=p.cache_dir,
    )
    by_split = {split: systems["production"] for split, systems in res.metrics.items()}
    metrics: dict[str, Any] = dict(by_split[p.splits[0]])
    metrics["by_split"] = by_split
    metrics["timings_s"] = {split: t["production"] for split, t in res.timings.items()}
    metrics["model"] = str(p.model)
    return res.per_query.drop(columns="model"), metrics


def report(metrics: dict[str, Any], per_query: pd.DataFrame) -> tuple[str, plt.Figure]:
    """Markdown report and a bar chart of the headline metrics per retriever and split."""
    return metrics_markdown("Retrieval evaluation", metrics["by_split"], per_query), metrics_bar_plot(metrics["by_split"])
