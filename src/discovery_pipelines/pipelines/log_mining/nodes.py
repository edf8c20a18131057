"""Nodes of the ``log_mining`` pipeline: thin wrappers over :mod:`discovery_pipelines.log_mining`."""

from __future__ import annotations

import functools
import json
from typing import Any

import pandas as pd

from discovery_pipelines.data.datasets import EventsFolder, Gated
from discovery_pipelines.data.params import validate
from discovery_pipelines.log_mining import mine_events, ranked_lists, simulate_events
from discovery_pipelines.log_mining.params import EventsParams, MiningBlock, QualityParams
from discovery_pipelines.log_mining import quality as lq
from discovery_pipelines.log_mining.mining import env_threads
from discovery_pipelines.data.text import normalize_query


def prepare_events(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                   params: dict[str, Any]) -> Gated:
    """The events folder: simulated click logs (``params.simulate: true``) or a real export left as it is.

    Simulation: BM25 top-``ranker.k`` lists for every query, then the position-based click model
    (:mod:`discovery_pipelines.log_mining.click_model`) writes ``n_events`` events as date-partitioned
    Parquet, chunk by chunk, when the catalog saves the returned writer (``log_mining.events``, an
    ``EventsFolderDataset`` behind a ``GatedDataset``). With ``simulate: false`` nothing is written: the
    miner reads the events already at that catalog entry's path (any producer of the events contract).

    Returns:
        ``Gated(writer, True)`` (simulate) or ``Gated(None, False)`` (external events).

    Raises:
        ParameterError: a misspelt or mistyped key (:class:`log_mining.params.EventsParams`), named.
    """
    p = validate(EventsParams, params, "log_mining.events")
    if not p.simulate:
        return Gated(None, False, "simulate: false, the external events at the catalog path are mined")
    lists = ranked_lists(products, queries, qrels, k=p.ranker.k, k1=p.ranker.k1, b=p.ranker.b)
    return Gated(functools.partial(
        simulate_events, lists, n_events=p.n_events, model=p.click_model, seed=p.seed, n_days=p.n_days,
        start_date=p.start_date, chunk_events=p.chunk_events, corruption=p.corruption,
    ), True)


def mine_click_logs(events: EventsFolder, products: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """Mine (query, product) pairs with the configured engine (``duckdb`` | ``spark``).

    Events naming products outside the catalogue are rejected for external logs and dropped (counted)
    for simulated ones, unless ``on_unknown_ids`` says otherwise (:class:`log_mining.params.MiningBlock`).

    Returns:
        ``(pairs, report)``: all pairs with counts, CTR, Wilson lower bound and positive / negative
        flags; the report counts dropped rows per reason.

    Raises:
        ContractError: unknown product ids under policy ``reject`` (count and first rows named).
    """
    p = validate(MiningBlock, params, "log_mining.mining")
    duck = p.duckdb.model_dump(exclude_none=True)
    duck.setdefault("threads", env_threads())
    policy = p.on_unknown_ids or ("drop" if events.source == "simulated" else "reject")
    res = mine_events(events.path, products["product_id"].astype(str).tolist(), p.params, engine=p.engine,
                      duckdb_options=duck, spark_options=p.spark.model_dump(), progress=True,
                      on_unknown_ids=policy)
    return res.pairs, res.report


def _with_provenance(df: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    out = df.drop(columns=["is_positive", "is_negative"]).merge(splits, on="query_norm", how="left")
    out["source"] = "log"
    return out.reset_index(drop=True)


def split_training_pairs(pairs: pd.DataFrame, queries: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Positives and log negatives as training pairs with provenance.

    Columns: query (raw text), query_norm, product_id, impressions, clicks, carts, purchases, ctr,
    wilson_lb, mean_position, split (the query's train/dev/holdout split, null if the query is not in
    ``queries``: consumers must filter on it to keep hold-out queries out of training), source='log'.
    """
    splits = pd.DataFrame({"query_norm": queries["text"].map(normalize_query)})
    splits["split"] = queries["split"].to_numpy() if "split" in queries else None
    splits = splits.drop_duplicates("query_norm")
    return (_with_provenance(pairs[pairs["is_positive"]], splits),
            _with_provenance(pairs[pairs["is_negative"]], splits))


def evaluate_mining(pairs: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, mining_report: dict,
                    events: EventsFolder, mining_params: dict[str, Any], params: dict[str, Any]):
    """Precision / recall of mined positives vs qrels, the PR curve, its plot and the Markdown report.

    Returns:
        ``(report_json, curve_df, figure, markdown)``.
    """
    mp = validate(MiningBlock, mining_params, "log_mining.mining").params
    qp = validate(QualityParams, params, "log_mining.quality")
    rel = qp.relevant_gain
    with_gain, truth = lq.attach_gains(pairs, queries, qrels)
    curve = lq.pr_curve(with_gain, truth, qp.thresholds, mp.min_impressions, rel)
    default = lq.precision_recall(with_gain, truth, mp.positive_threshold, mp.min_impressions, rel)
    negq = lq.negatives_quality(with_gain[with_gain["is_negative"]], rel)
    manifest = events.manifest
    events_summary = {k: v for k, v in manifest.items() if k not in ("click_model", "columns")}
    report = {
        "mining": mining_report, "params": mining_report.get("params", {}), "events": events_summary,
        "click_model": manifest.get("click_model"),
        "quality": {"relevant_gain": rel, "default": default, "negatives": negq},
    }
    report = json.loads(json.dumps(report, default=str, allow_nan=True))
    fig = lq.plot_pr_curve(curve, mp.positive_threshold)
    return report, curve, fig, lq.markdown_report(report, curve)
