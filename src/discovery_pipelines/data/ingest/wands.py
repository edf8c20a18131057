"""WANDS (Wayfair ANnotation DataSet, Chen et al., ECIR 2022) adapter.

Upstream files are tab-separated: ``product.csv`` (product_id, product_name, product_class,
category hierarchy, product_description, product_features ``|``-joined ``name:value``, rating_count,
average_rating, review_count), ``query.csv`` (query_id, query, query_class) and ``label.csv``
(id, query_id, product_id, label in Exact / Partial / Irrelevant). Files are read from ``folder``;
when a file is absent and ``download=True`` they are fetched from the public repository once and
cached in ``folder``. A ``query.parquet`` copy (as in the shared data) is also accepted.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.ingest.base import Dataset
from discovery_pipelines.data.io import atomic_path

WANDS_URL = "https://raw.githubusercontent.com/wayfair/WANDS/main/dataset/{name}"
WANDS_GAINS: dict[str, float] = {"Exact": 2.0, "Partial": 1.0, "Irrelevant": 0.0}
"""Gains used in the WANDS paper's nDCG (Exact 2, Partial 1, Irrelevant 0)."""


def _fetch(folder: Path, name: str, download: bool, timeout: float) -> Path | None:
    path = folder / name
    if path.exists():
        return path
    if not download:
        return None
    try:
        with urllib.request.urlopen(WANDS_URL.format(name=name), timeout=timeout) as r, atomic_path(path) as tmp:
            tmp.write_bytes(r.read())
        return path
    except OSError:
        return None


def _features_to_json(s: object) -> str | None:
    if not isinstance(s, str) or not s.strip():
        return None
    out: dict[str, str] = {}
    for part in s.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip()] = v.strip()
    return json.dumps(out, ensure_ascii=False)


def load_wands(
    folder: str | Path,
    *,
    download: bool = False,
    gains: dict[str, float] | None = None,
    timeout: float = 30.0,
) -> Dataset:
    """Load WANDS into the contract.

    Args:
        folder: local folder with the upstream TSVs (or ``query.parquet``); also the download cache.
        download: fetch missing TSVs from GitHub (needs network); offline this silently reads what is local.
        gains: label -> gain; default :data:`WANDS_GAINS`.

    Returns:
        Dataset; products/qrels are empty when their files are not available (queries-only copy).

    Raises:
        FileNotFoundError: no query file at all. ContractError: a row breaks the contract;
        ValueError: a label outside ``gains`` (file, row and value named).
    """
    folder = Path(folder)
    gains = gains or WANDS_GAINS
    qpath = _fetch(folder, "query.csv", download, timeout)
    if qpath is not None:
        q = pd.read_csv(qpath, sep="\t")
    elif (folder / "query.parquet").exists():
        qpath = folder / "query.parquet"
        q = pd.read_parquet(qpath)
    else:
        raise FileNotFoundError(f"WANDS: no query.csv or query.parquet in {folder}")
    queries = pd.DataFrame({"query_id": "wands:" + q["query_id"].astype(str), "text": q["query"]})
    if "query_class" in q:
        queries["query_class"] = q["query_class"]

    ds = Dataset("wands", pd.DataFrame({"product_id": [], "title": [], "locale": []}), queries)
    ppath = _fetch(folder, "product.csv", download, timeout)
    if ppath is not None:
        p = pd.read_csv(ppath, sep="\t")
        hier = next((c for c in p.columns if c.replace(" ", "_") == "category_hierarchy"), None)
        ds.products = pd.DataFrame(
            {
                "product_id": "wands:" + p["product_id"].astype(str),
                "title": p["product_name"],
                "description": p.get("product_description"),
                "category_path": p[hier].astype("string").str.replace(r"\s*/\s*", " > ", regex=True) if hier else None,
                "attributes": p.get("product_features", pd.Series(index=p.index, dtype=object)).map(_features_to_json),
                "locale": "en-US",
            }
        )
        if "product_class" in p:
            ds.products["product_class"] = p["product_class"]
    lpath = _fetch(folder, "label.csv", download, timeout)
    if lpath is not None:
        lab = pd.read_csv(lpath, sep="\t")
        bad = ~lab["label"].isin(list(gains))
        if bad.any():
            i = int(bad.idxmax())
            raise ValueError(f"{lpath}: row={i} column=label value={lab.loc[i, 'label']!r} not in {sorted(gains)}")
        ds.qrels = pd.DataFrame(
            {
                "query_id": "wands:" + lab["query_id"].astype(str),
                "product_id": "wands:" + lab["product_id"].astype(str),
                "gain": lab["label"].map(gains).astype(float),
                "label": lab["label"],
            }
        ).drop_duplicates(["query_id", "product_id"], keep="last")
    return ds.validated(str(qpath.parent))
