"""Shared pieces of the ingest adapters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import conform, empty, validate
from discovery_pipelines.data.text import normalize_query


def query_id_for(text: str, prefix: str = "q") -> str:
    """Stable query id from the *normalised* query text: ``{prefix}:{sha1(normalized)[:12]}``.

    The same query typed with other case or spacing gets the same id in every dataset and run.
    """
    return f"{prefix}:{hashlib.sha1(normalize_query(text).encode('utf-8')).hexdigest()[:12]}"


@dataclass
class Dataset:
    """Validated contract tables of one source. ``queries``/``qrels`` may be empty (catalogue-only)."""

    name: str
    products: pd.DataFrame
    queries: pd.DataFrame = field(default_factory=lambda: empty("queries"))
    qrels: pd.DataFrame = field(default_factory=lambda: empty("qrels"))

    def validated(self, source: str) -> "Dataset":
        """Return a copy whose tables passed :func:`contract.validate` (errors name ``source``)."""
        return Dataset(
            self.name,
            validate(conform(self.products, "products"), "products", f"{source} (products)"),
            validate(conform(self.queries, "queries"), "queries", f"{source} (queries)"),
            validate(conform(self.qrels, "qrels"), "qrels", f"{source} (qrels)"),
        )


def require_file(folder: Path, *names: str) -> Path:
    """First of ``names`` that exists in ``folder``; ``FileNotFoundError`` naming all tried otherwise."""
    for n in names:
        p = Path(folder) / n
        if p.exists():
            return p
    raise FileNotFoundError(f"none of {list(names)} found in {folder}")


def queries_from_texts(texts: pd.Series, prefix: str) -> pd.DataFrame:
    """One query row per normalised text (first raw spelling kept), ids from :func:`query_id_for`."""
    df = pd.DataFrame({"text": texts.astype(str)})
    df["key"] = df["text"].map(normalize_query)
    df = df[df["key"] != ""].drop_duplicates("key")
    df["query_id"] = df["text"].map(lambda t: query_id_for(t, prefix))
    return df[["query_id", "text"]].reset_index(drop=True)
