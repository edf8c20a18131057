"""Generic adapters: contract-shaped CSV / Parquet tables, and BEIR-style JSONL corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import ContractError, OnUnknown
from discovery_pipelines.data.ingest.base import Dataset, read_table


def load_tables(
    products: str | Path,
    queries: str | Path | None = None,
    qrels: str | Path | None = None,
    *,
    rename: dict[str, dict[str, str]] | None = None,
    name: str = "generic",
    encoding: str = "utf-8",
    on_unknown: OnUnknown = "reject",
) -> Dataset:
    """Load contract tables from CSV / TSV / Parquet files, renaming columns first.

    Id columns are read as text from every format (``001`` stays ``001``, as in Parquet).

    Args:
        products, queries, qrels: file paths (``.csv``, ``.tsv``, ``.parquet``).
        rename: per table, source column -> contract column (e.g. ``{"products": {"name": "title"}}``).
        encoding: text encoding of CSV / TSV files.
        on_unknown: ``reject`` qrels naming unknown queries / products, or ``drop`` them (counted in
            :attr:`Dataset.dropped`). Queries are only checked when a queries file is given.

    Raises:
        ContractError: naming the file, row and column of the first failures; an empty, non-``encoding``
            or unreadable file; qrels naming unknown ids (``reject``).
    """
    rename = rename or {}
    paths = {"products": products, "queries": queries, "qrels": qrels}
    frames: dict[str, pd.DataFrame] = {}
    for kind, p in paths.items():
        if p is None:
            continue
        frames[kind] = read_table(p, encoding=encoding, rename=rename.get(kind)).rename(columns=rename.get(kind, {}))
    ds = Dataset(name, frames["products"])
    if "queries" in frames:
        ds.queries = frames["queries"]
    if "qrels" in frames:
        q = frames["qrels"]
        if "label" not in q and "gain" in q:
            q = q.assign(label=q["gain"].astype(str))
        ds.qrels = q
    sources = {kind: str(p) if p is not None else f"<{kind}>" for kind, p in paths.items()}
    # without a queries file there is nothing to check the qrels' query ids against
    return ds.validated(name, on_unknown=on_unknown, sources=sources, check_queries=queries is not None)


def _read_jsonl(path: Path, encoding: str = "utf-8") -> list[dict]:
    rows: list[dict] = []
    try:
        with open(path, encoding=encoding) as fh:
            for i, line in enumerate(fh):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ContractError(f"{path}: row={i} is not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as e:
        raise ContractError(f"{path}: not valid {encoding} text: {e.reason} after row={len(rows)}; "
                            f"encoding tried: {encoding}") from None
    return rows


def load_beir(folder: str | Path, *, split: str = "test", name: str | None = None,
              on_unknown: OnUnknown = "reject") -> Dataset:
    """Load a BEIR-layout folder: ``corpus.jsonl`` (_id, title, text), ``queries.jsonl`` (_id, text),
    ``qrels/{split}.tsv`` (query-id, corpus-id, score).

    ``title`` falls back to ``text`` when empty; ``text`` becomes the description.

    Raises:
        FileNotFoundError, ContractError (file and row named; qrels naming unknown ids under ``reject``).
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
    q = read_table(qpath, rename={"query-id": "query_id", "corpus-id": "product_id"})
    qrels = pd.DataFrame(
        {"query_id": q["query-id"], "product_id": q["corpus-id"], "gain": q["score"].astype(float), "label": q["score"].astype(str)}
    )
    keep = set(qrels["query_id"])
    queries = queries[queries["query_id"].isin(keep)]
    return Dataset(name or folder.name, products, queries, qrels).validated(
        str(folder), on_unknown=on_unknown, sources={"products": str(folder / "corpus.jsonl"),
                                                     "queries": str(folder / "queries.jsonl"), "qrels": str(qpath)})
