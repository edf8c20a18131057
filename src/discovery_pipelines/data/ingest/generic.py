"""Generic adapters: contract-shaped CSV / Parquet tables, and BEIR-style JSONL corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import ContractError
from discovery_pipelines.data.ingest.base import Dataset


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".tsv", ".txt"):
        return pd.read_csv(path, sep="\t")
    return pd.read_csv(path)


def load_tables(
    products: str | Path,
    queries: str | Path | None = None,
    qrels: str | Path | None = None,
    *,
    rename: dict[str, dict[str, str]] | None = None,
    name: str = "generic",
) -> Dataset:
    """Load contract tables from CSV / TSV / Parquet files, renaming columns first.

    Args:
        products, queries, qrels: file paths (``.csv``, ``.tsv``, ``.parquet``).
        rename: per table, source column -> contract column (e.g. ``{"products": {"name": "title"}}``).

    Raises:
        ContractError: naming the file, row and column of the first failures.
    """
    rename = rename or {}
    paths = {"products": products, "queries": queries, "qrels": qrels}
    frames: dict[str, pd.DataFrame] = {}
    for kind, p in paths.items():
        if p is None:
            continue
        frames[kind] = _read_table(Path(p)).rename(columns=rename.get(kind, {}))
    ds = Dataset(name, frames["products"])
    if "queries" in frames:
        ds.queries = frames["queries"]
    if "qrels" in frames:
        q = frames["qrels"]
        if "label" not in q:
            q = q.assign(label=q["gain"].astype(str))
        ds.qrels = q
    # validate each table against its own file name
    out = {}
    from discovery_pipelines.data.contract import conform, validate

    for kind, df in (("products", ds.products), ("queries", ds.queries), ("qrels", ds.qrels)):
        src = str(paths[kind]) if paths[kind] is not None else f"<{kind}>"
        out[kind] = validate(conform(df, kind), kind, src)
    return Dataset(name, out["products"], out["queries"], out["qrels"])


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ContractError(f"{path}: row={i} is not valid JSON ({exc.msg})") from None
    return rows


def load_beir(folder: str | Path, *, split: str = "test", name: str | None = None) -> Dataset:
    """Load a BEIR-layout folder: ``corpus.jsonl`` (_id, title, text), ``queries.jsonl`` (_id, text),
    ``qrels/{split}.tsv`` (query-id, corpus-id, score).

    ``title`` falls back to ``text`` when empty; ``text`` becomes the description.

    Raises:
        FileNotFoundError, ContractError (file and row named).
    """
    folder = Path(folder)
    corpus = _read_jsonl(folder / "corpus.jsonl")
    products = pd.DataFrame(
        {
            "product_id": [str(r.get("_id", "")) for r in corpus],
            "title": [r.get("title") or r.get("text", "") for r in corpus],
            "description": [r.get("text") for r in corpus],
            "locale": "en-US",
        }
    )
    qs = _read_jsonl(folder / "queries.jsonl")
    queries = pd.DataFrame({"query_id": [str(r.get("_id", "")) for r in qs], "text": [r.get("text", "") for r in qs]})
    qpath = folder / "qrels" / f"{split}.tsv"
    q = pd.read_csv(qpath, sep="\t", dtype={"query-id": str, "corpus-id": str})
    qrels = pd.DataFrame(
        {"query_id": q["query-id"], "product_id": q["corpus-id"], "gain": q["score"].astype(float), "label": q["score"].astype(str)}
    )
    keep = set(qrels["query_id"])
    queries = queries[queries["query_id"].isin(keep)]
    return Dataset(name or folder.name, products, queries, qrels).validated(str(folder))
