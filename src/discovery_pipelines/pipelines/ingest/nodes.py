"""Nodes of the ``ingest`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from discovery_pipelines.data import ingest as adapters
from discovery_pipelines.data.ingest.params import IngestParams
from discovery_pipelines.data.splits import assign_splits, judged_and_sampled

log = logging.getLogger(__name__)


def load_source(params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read the configured source through its adapter; returns validated (products, queries, qrels)
    and the ingest report (row counts, rows dropped by ``on_unknown_ids: drop``).

    ``params``: ``source`` (adapter name), ``path``, ``esci_gains``, ``max_queries`` (deterministic cap),
    ``max_products`` (cap on the catalogue for quick runs: every judged product of the kept queries
    plus a seeded sample of the others), ``on_unknown_ids`` (``reject`` | ``drop``).

    Raises:
        ValueError: unknown source; pydantic.ValidationError (a ValueError) for a misspelt or mistyped
            key (:class:`data.ingest.params.IngestParams`). FileNotFoundError / ContractError from the adapter.
    """
    cfg = IngestParams.model_validate(params)
    src, path, ou = params["source"], params["path"], cfg.on_unknown_ids
    loaders = {
        "home_depot": lambda: adapters.load_home_depot(path, on_unknown=ou),
        "wands": lambda: adapters.load_wands(path, download=bool(params.get("download", False)), on_unknown=ou),
        "esci": lambda: adapters.load_esci(path, gains=params.get("esci_gains", "esci_paper"), on_unknown=ou),
        "esci_judgments": lambda: adapters.load_esci_judgments(path, gains=params.get("esci_gains", "esci_paper")),
        "instacart": lambda: adapters.load_instacart(path),
        "beir": lambda: adapters.load_beir(path, on_unknown=ou),
        "tables": lambda: adapters.load_tables(**params["tables"], on_unknown=ou),
    }
    if src not in loaders:
        raise ValueError(f"ingest.source={src!r} is not one of {sorted(loaders)}")
    ds = loaders[src]()
    queries, qrels = ds.queries, ds.qrels
    cap = params.get("max_queries")
    if cap and len(queries) > int(cap):
        queries = queries.sample(n=int(cap), random_state=0).sort_index().reset_index(drop=True)
        qrels = qrels[qrels["query_id"].isin(set(queries["query_id"]))].reset_index(drop=True)
    products = ds.products
    pcap = params.get("max_products")
    if pcap and len(products) > int(pcap):
        judged = set(qrels["product_id"])
        products = judged_and_sampled(products, judged, int(pcap) - int(products["product_id"].isin(judged).sum()))
    report = {"source": src, "on_unknown_ids": ou, "products": len(products), "queries": len(queries),
              "qrels": len(qrels), "dropped_unknown_ids": ds.dropped}
    n_dropped = sum(v for t in ds.dropped.values() for v in t.values())
    if n_dropped:
        log.warning("ingest: dropped %d qrels row(s) naming unknown ids (on_unknown_ids=drop): %s", n_dropped,
                    ds.dropped)
    return products, queries, qrels, report


def split_queries(queries: pd.DataFrame, split_params: dict[str, Any]) -> pd.DataFrame:
    """Add the deterministic ``split`` column (train / dev / holdout) by normalised query text."""
    return assign_splits(queries, split_params["fractions"], split_params.get("salt", "discovery"))
