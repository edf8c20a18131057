"""Nodes of the ``evaluate`` pipeline."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from discovery_pipelines.search.evaluation import evaluate  # noqa: E402
from discovery_pipelines.reporting.figures import metrics_bar_plot, metrics_markdown  # noqa: E402


def evaluate_splits(
    products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate ``params['model']`` on every split in ``params['splits']``.

    Returns:
        per_query: rows (retriever, query_id, text, metrics..., verdict, split);
        metrics: ``{retriever: {metric: value}}`` for the first split (dev), plus
        ``{"by_split": {split: {retriever: {...}}}, "timings": {...}}``.
    """
    frames, by_split, timings = [], {}, {}
    for split in params["splits"]:
        q = queries[queries["split"] == split]
        r = qrels[qrels["query_id"].isin(set(q["query_id"]))]
        res = evaluate(
            params["model"], products, q, r,
            retrievers=params["retrievers"], k=int(params["k"]), text_fields=params["text_fields"],
            rel_threshold=float(params["rel_threshold"]), good_rule=params["good_rule"],
            rrf_weights=params["rrf"]["weights"], rrf_c=float(params["rrf"]["c"]),
            cache_dir=params["cache_dir"],
        )
        frames.append(res.per_query.assign(split=split))
        by_split[split] = res.metrics
        timings[split] = res.timings
    metrics: dict[str, Any] = dict(by_split[params["splits"][0]])
    metrics["by_split"] = by_split
    metrics["timings_s"] = timings
    metrics["model"] = str(params["model"])
    return pd.concat(frames, ignore_index=True), metrics


def report(metrics: dict[str, Any], per_query: pd.DataFrame) -> tuple[str, plt.Figure]:
    """Markdown report and a bar chart of the headline metrics per retriever and split."""
    return metrics_markdown("Retrieval evaluation", metrics["by_split"], per_query), metrics_bar_plot(metrics["by_split"])
