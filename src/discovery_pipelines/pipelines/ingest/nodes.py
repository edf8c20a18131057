"""Nodes of the ``ingest`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from discovery_pipelines.data import ingest as adapters
from discovery_pipelines.data.ingest.params import IngestParams, SplitParams
from discovery_pipelines.data.params import ParameterError, validate
from discovery_pipelines.data.splits import assign_splits, judged_and_sampled


def load_source(params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read the configured source through its adapter; returns validated (products, queries, qrels).

    ``params`` (:class:`~discovery_pipelines.data.ingest.params.IngestParams`): ``source`` (adapter name),
    ``path``, ``esci_gains``, ``max_queries`` (deterministic cap), ``max_products`` (cap on the catalogue for
    quick runs: every judged product of the kept queries plus a seeded sample of the others).

    Raises:
        ParameterError: a misspelt or mistyped key (named). FileNotFoundError / ContractError from the adapter.
    """
    p = validate(IngestParams, params, "ingest")
    loaders = {
        "home_depot": lambda: adapters.load_home_depot(p.path),
        "wands": lambda: adapters.load_wands(p.path, download=p.download),
        "esci": lambda: adapters.load_esci(p.path, gains=p.esci_gains),
        "esci_judgments": lambda: adapters.load_esci_judgments(p.path, gains=p.esci_gains),
        "instacart": lambda: adapters.load_instacart(p.path),
        "beir": lambda: adapters.load_beir(p.path),
        "tables": lambda: adapters.load_tables(**p.tables.model_dump()),
    }
    if p.source == "tables" and p.tables is None:
        raise ParameterError("ingest.tables is required with ingest.source: tables")
    ds = loaders[p.source]()
    queries, qrels = ds.queries, ds.qrels
    if p.max_queries and len(queries) > p.max_queries:
        queries = queries.sample(n=p.max_queries, random_state=0).sort_index().reset_index(drop=True)
        qrels = qrels[qrels["query_id"].isin(set(queries["query_id"]))].reset_index(drop=True)
    products = ds.products
    if p.max_products and len(products) > p.max_products:
        judged = set(qrels["product_id"])
        products = judged_and_sampled(products, judged, p.max_products - int(products["product_id"].isin(judged).sum()))
    return products, queries, qrels


def split_queries(queries: pd.DataFrame, split_params: dict[str, Any]) -> pd.DataFrame:
    """Add the deterministic ``split`` column (train / dev / holdout) by normalised query text."""
    sp = validate(SplitParams, split_params, "ingest.splits")
    return assign_splits(queries, sp.fractions, sp.salt)
