"""Home Depot Product Search Relevance (Kaggle 2016) adapter.

Upstream ``train.csv`` is latin-1 encoded with columns id, product_uid, product_title, search_term,
relevance (mean of >= 3 raters on 1..3). The shared copy ships it as zstd Parquet
(``labels.parquet`` + ``products.parquet``); both forms are read here. Relevance is kept as the
graded gain (1.0 .. 3.0) and its text as ``label``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import OnUnknown
from discovery_pipelines.data.ingest.base import Dataset, query_id_for, queries_from_texts, read_table
from discovery_pipelines.data.text import normalize_query


def load_home_depot(folder: str | Path, *, include_descriptions: bool = True,
                    on_unknown: OnUnknown = "reject") -> Dataset:
    """Load Home Depot into the contract.

    Args:
        folder: holds ``labels.parquet`` + ``products.parquet`` (shared copy) or the upstream
            ``train.csv`` (latin-1), optionally ``product_descriptions.csv`` / ``attributes.csv``.
        include_descriptions: join ``product_descriptions.csv`` when present.
        on_unknown: ``reject`` / ``drop`` qrels naming a product missing from the catalogue.

    Returns:
        Dataset with products (every distinct ``product_uid``; the first title variant wins),
        queries keyed by normalised ``search_term`` and qrels with ``gain = relevance`` (mean when
        two raw spellings of one query judged the same product).

    Raises:
        FileNotFoundError: neither form is in ``folder``.
        ContractError: a row breaks the contract (file, row and column named).
    """
    folder = Path(folder)
    if (folder / "labels.parquet").exists():
        labels = read_table(folder / "labels.parquet")
        src = str(folder / "labels.parquet")
        catalogue = (
            read_table(folder / "products.parquet")
            if (folder / "products.parquet").exists()
            else labels[["product_uid", "product_title"]]
        )
    elif (folder / "train.csv").exists():
        src = str(folder / "train.csv")
        labels = read_table(folder / "train.csv", encoding="latin-1", id_columns=())
        catalogue = labels[["product_uid", "product_title"]]
    else:
        raise FileNotFoundError(f"Home Depot: neither labels.parquet nor train.csv in {folder}")

    products = catalogue.drop_duplicates("product_uid", keep="first").rename(
        columns={"product_uid": "product_id", "product_title": "title"}
    )
    products["product_id"] = products["product_id"].astype(str)
    products["brand"] = None
    desc = folder / "product_descriptions.csv"
    if include_descriptions and desc.exists():
        d = read_table(desc, encoding="latin-1", id_columns=()).rename(
            columns={"product_uid": "product_id", "product_description": "description"}
        )
        d["product_id"] = d["product_id"].astype(str)
        products = products.merge(d[["product_id", "description"]], on="product_id", how="left")
    products["locale"] = "en-US"

    queries = queries_from_texts(labels["search_term"], "hd")
    lab = labels.assign(
        query_id=labels["search_term"].astype(str).map(lambda t: query_id_for(t, "hd")),
        product_id=labels["product_uid"].astype(str),
        key=labels["search_term"].astype(str).map(normalize_query),
    )
    lab = lab[lab["key"] != ""]
    qrels = lab.groupby(["query_id", "product_id"], as_index=False)["relevance"].mean()
    qrels["gain"] = qrels["relevance"].astype(float)
    qrels["label"] = qrels["relevance"].map(lambda r: f"{r:.2f}")
    return Dataset("home_depot", products, queries, qrels[["query_id", "product_id", "gain", "label"]]).validated(src, on_unknown=on_unknown)
