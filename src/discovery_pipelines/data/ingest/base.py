"""Shared pieces of the ingest adapters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import (
    ID_COLUMNS,
    ContractError,
    OnUnknown,
    check_references,
    conform,
    empty,
    validate,
)
from discovery_pipelines.data.text import normalize_query


def query_id_for(text: str, prefix: str = "q") -> str:
    """Stable query id from the *normalised* query text: ``{prefix}:{sha1(normalized)[:12]}``.

    The same query typed with other case or spacing gets the same id in every dataset and run.
    """
    return f"{prefix}:{hashlib.sha1(normalize_query(text).encode('utf-8')).hexdigest()[:12]}"


@dataclass
class Dataset:
    """Validated contract tables of one source. ``queries``/``qrels`` may be empty (catalogue-only).

    ``dropped`` counts rows removed by the ``drop`` policy of :func:`contract.check_references`
    (``{"qrels": {"unknown_query": n, "unknown_product": m}}``), for the ingest report.
    """

    name: str
    products: pd.DataFrame
    queries: pd.DataFrame = field(default_factory=lambda: empty("queries"))
    qrels: pd.DataFrame = field(default_factory=lambda: empty("qrels"))
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    def validated(self, source: str, *, on_unknown: OnUnknown = "reject", check_products: bool = True,
                  check_queries: bool = True, sources: Mapping[str, str] | None = None) -> "Dataset":
        """Return a copy whose tables passed :func:`contract.validate` and whose qrels reference known
        queries and products (:func:`contract.check_references` with policy ``on_unknown``).

        Errors name ``sources[kind]`` when given (the file of each table), else ``source (kind)``.
        ``check_products=False`` for sources that ship judgments without a catalogue,
        ``check_queries=False`` when no queries table came with the qrels.

        Raises:
            ContractError: a table breaks the contract, or (``reject``) qrels name unknown ids.
        """
        names = {k: (sources or {}).get(k) or f"{source} ({k})" for k in ("products", "queries", "qrels")}
        products = validate(conform(self.products, "products"), "products", names["products"])
        queries = validate(conform(self.queries, "queries"), "queries", names["queries"])
        qrels = validate(conform(self.qrels, "qrels"), "qrels", names["qrels"])
        qrels, _, dropped = check_references(products, queries if check_queries else None, qrels,
                                             policy=on_unknown, source=names["qrels"], check_products=check_products)
        return Dataset(self.name, products, queries, qrels, dropped)


def read_table(path: str | Path, *, sep: str | None = None, encoding: str = "utf-8",
               id_columns: Iterable[str] = ID_COLUMNS, rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV / TSV / TXT / Parquet / JSON-lines table with every id column as text.

    Args:
        path: the file; the format comes from its suffix (``.parquet``, ``.tsv``/``.txt`` tab-separated,
            ``.jsonl``, anything else CSV).
        sep: override the delimiter of a delimited file.
        encoding: text encoding of delimited and JSON-lines files.
        id_columns: contract id columns, read as strings so ``001`` stays ``001`` (Parquet keeps its
            types; an integer id column there is turned into text by the contract).
        rename: source column -> contract column, so ids named otherwise in the file are found.

    Raises:
        FileNotFoundError: no such file. ContractError: the file is empty, not in ``encoding``
            (the byte offset and the encoding tried are named), malformed (parser message), or not
            a readable Parquet file; every message starts with the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    ids = set(id_columns)
    back = {dst: src for src, dst in (rename or {}).items()}
    try:
        if path.stat().st_size == 0:
            raise ContractError(f"{path}: file is empty (0 bytes; expected a header row)")
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=False, encoding=encoding)
            for c in [c for c in df.columns if c in ids or back.get(c) in ids or (rename or {}).get(c) in ids]:
                df[c] = df[c].map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
            return df
        delim = sep or ("\t" if path.suffix in (".tsv", ".txt") else ",")
        dtype = {c: "string" for c in ids} | {src: "string" for src, dst in (rename or {}).items() if dst in ids}
        df = pd.read_csv(path, sep=delim, encoding=encoding, dtype=dtype, keep_default_na=False,
                         na_values=[""])
        return df.astype({c: object for c in df.columns if c in dtype})
    except ContractError:
        raise
    except UnicodeDecodeError as e:
        raise ContractError(f"{path}: not valid {encoding} text: byte {e.start} (0x{e.object[e.start]:02x}) "
                            f"{e.reason}; encoding tried: {encoding} (re-save the file as UTF-8 or pass "
                            "the file's encoding)") from None
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: file holds no header row (empty or blank)") from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise ContractError(f"{path}: cannot be read as a {path.suffix.lstrip('.') or 'csv'} table: "
                            f"{str(e).splitlines()[0][:300]}") from None


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
