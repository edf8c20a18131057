"""Amazon Shopping Queries Dataset (ESCI; Reddy et al. 2022) adapters.

ESCI labels: E(xact), S(ubstitute), C(omplement), I(rrelevant). Two gain conventions are in use and
both are named here; which one applies is configuration (``parameters_ingest.yml``):

* ``esci_paper``: E=1.0, S=0.1, C=0.01, I=0.0 (the dataset paper's nDCG gains)
* ``amazon_baseline``: E=1.0, S=0.01, C=0.1, I=0.0 (as in Amazon's baseline ranking code)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import OnUnknown
from discovery_pipelines.data.ingest.base import (
    Dataset,
    queries_from_texts,
    query_id_for,
    read_table,
    require_file,
)

ESCI_GAIN_MAPS: dict[str, dict[str, float]] = {
    "esci_paper": {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0},
    "amazon_baseline": {"E": 1.0, "S": 0.01, "C": 0.1, "I": 0.0},
}
OPENSEARCH_RATING_TO_ESCI: dict[float, str] = {100.0: "E", 10.0: "S", 1.0: "C", 0.0: "I"}
"""OpenSearch's ESCI judgments export uses ratings 100/10/1/0; mapping them to E/S/C/I is our inference."""


def _gain_map(gains: str | dict[str, float]) -> dict[str, float]:
    if isinstance(gains, str):
        if gains not in ESCI_GAIN_MAPS:
            raise ValueError(f"unknown ESCI gain convention {gains!r}; known: {sorted(ESCI_GAIN_MAPS)}")
        return ESCI_GAIN_MAPS[gains]
    return dict(gains)


def load_esci(
    folder: str | Path,
    *,
    gains: str | dict[str, float] = "esci_paper",
    locale: str | None = "us",
    small_version: bool = True,
    split: str | None = None,
    on_unknown: OnUnknown = "reject",
) -> Dataset:
    """Load ESCI examples + products parquet into the contract.

    Args:
        folder: holds ``shopping_queries_dataset_examples.parquet`` and ``..._products.parquet``.
        gains: convention name from :data:`ESCI_GAIN_MAPS` or an explicit label->gain map.
        locale: keep one product_locale (``us``, ``es``, ``jp``) or all with ``None``.
        small_version: keep the "reduced" task-1 subset.
        split: ``train`` / ``test`` / ``None`` for both.
        on_unknown: ``reject`` / ``drop`` judgments of products missing from the (locale-filtered,
            titled) catalogue.

    Raises:
        FileNotFoundError, ContractError, ValueError (unknown label: file, row, value named).
    """
    folder = Path(folder)
    gmap = _gain_map(gains)
    ex_path = require_file(folder, "shopping_queries_dataset_examples.parquet", "examples.parquet")
    pr_path = require_file(folder, "shopping_queries_dataset_products.parquet", "products.parquet")
    ex = read_table(ex_path)
    if locale is not None and "product_locale" in ex:
        ex = ex[ex["product_locale"] == locale]
    if small_version and "small_version" in ex:
        ex = ex[ex["small_version"] == 1]
    if split is not None and "split" in ex:
        ex = ex[ex["split"] == split]
    bad = ~ex["esci_label"].isin(list(gmap))
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"{ex_path}: row={i} column=esci_label value={ex.loc[i, 'esci_label']!r} not in {sorted(gmap)}")
    pr = read_table(pr_path)
    if locale is not None and "product_locale" in pr:
        pr = pr[pr["product_locale"] == locale]
    loc_map = {"us": "en-US", "es": "es-ES", "jp": "ja-JP"}
    products = pd.DataFrame(
        {
            "product_id": pr["product_id"].astype(str),
            "title": pr["product_title"].fillna(""),
            "description": pr.get("product_description"),
            "brand": pr.get("product_brand"),
            "color": pr.get("product_color"),
            "locale": pr.get("product_locale", pd.Series("us", index=pr.index)).map(lambda x: loc_map.get(x, x)),
        }
    )
    products = products[products["title"].str.strip() != ""].drop_duplicates("product_id")
    queries = queries_from_texts(ex["query"], "esci")
    qrels = pd.DataFrame(
        {
            "query_id": ex["query"].astype(str).map(lambda t: query_id_for(t, "esci")),
            "product_id": ex["product_id"].astype(str),
            "gain": ex["esci_label"].map(gmap).astype(float),
            "label": ex["esci_label"],
        }
    ).drop_duplicates(["query_id", "product_id"], keep="last")
    return Dataset("esci", products, queries, qrels).validated(str(ex_path), on_unknown=on_unknown)


def load_esci_judgments(path: str | Path, *, gains: str | dict[str, float] = "esci_paper") -> Dataset:
    """Load the OpenSearch ESCI judgments export (query, product_id, rating 100/10/1/0); no product text.

    Raises:
        ValueError: a rating outside :data:`OPENSEARCH_RATING_TO_ESCI` (file, row, value named).
    """
    path = Path(path)
    gmap = _gain_map(gains)
    j = read_table(path) if path.suffix in (".parquet", ".jsonl") else pd.read_json(path)
    labels = j["rating"].astype(float).map(OPENSEARCH_RATING_TO_ESCI)
    if labels.isna().any():
        i = labels.isna().idxmax()
        raise ValueError(f"{path}: row={i} column=rating value={j.loc[i, 'rating']!r} not in {sorted(OPENSEARCH_RATING_TO_ESCI)}")
    queries = queries_from_texts(j["query"], "esci")
    qrels = pd.DataFrame(
        {
            "query_id": j["query"].astype(str).map(lambda t: query_id_for(t, "esci")),
            "product_id": j["product_id"].astype(str),
            "gain": labels.map(gmap).astype(float),
            "label": labels,
        }
    ).drop_duplicates(["query_id", "product_id"], keep="last")
    return Dataset("esci_judgments", pd.DataFrame({"product_id": [], "title": [], "locale": []}), queries, qrels).validated(
        str(path), check_products=False)  # judgments without a catalogue: product ids cannot be checked
