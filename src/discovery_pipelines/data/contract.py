"""The data contract every adapter produces and every pipeline consumes.

Four tables (all ids are strings, so catalogues with integer, ASIN or UUID ids mix freely):

``products``  product_id, title, description, brand, color, category_path (``" > "``-joined),
              attributes (JSON object text), image_path, locale (BCP-47, e.g. ``en-US``)
``queries``   query_id, text
``qrels``     query_id, product_id, gain (finite float >= 0, graded relevance), label (original label text)
``events``    session_id, timestamp (UTC), query, product_id, position (1-based rank, >= 1 when set),
              event_type (impression | click | add_to_cart | purchase)
``listings``  the ``products`` columns for a catalogue of photographed listings: ``image_path`` is
              required and non-empty, ``title`` may be empty (a listing known by its photo alone)

Referential integrity (:func:`check_references`): every qrels ``query_id`` names a query and every
qrels / events ``product_id`` a product of the catalogue. Offenders are rejected by default
(:class:`ContractError` with their count and first rows); the ``drop`` policy removes them and
counts them for the report.

Validation uses pandera with ``lazy=True`` so every failing cell is collected; the raised
:class:`ContractError` names the source file, the row numbers (0-based, as in the file) and the
column of the first failures. Nothing downstream runs on a half-valid table: validation happens
before any node returns its output.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

EVENT_TYPES = ("impression", "click", "add_to_cart", "purchase")
TableKind = Literal["products", "queries", "qrels", "events", "listings"]
OnUnknown = Literal["reject", "drop"]
ON_UNKNOWN: tuple[str, ...] = ("reject", "drop")
ID_COLUMNS: tuple[str, ...] = ("product_id", "query_id", "session_id")
"""Columns holding ids: read as text from every file format (``001`` stays ``001``)."""


class ContractError(ValueError):
    """A table broke the data contract. ``.failures`` is a DataFrame of (row, column, check, value)."""

    def __init__(self, message: str, failures: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        self.failures = failures if failures is not None else pd.DataFrame()


def _nonempty(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip().str.len() > 0


def _json_object_or_null(s: pd.Series) -> pd.Series:
    def ok(v: object) -> bool:
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
            return True
        try:
            return isinstance(json.loads(str(v)), dict)
        except json.JSONDecodeError:
            return False

    return s.map(ok).astype(bool)


_STR = pa.Column(str, nullable=True, coerce=True, required=False)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "products": pa.DataFrameSchema(
        {
            "product_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), unique=True, coerce=True),
            "title": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "description": _STR,
            "brand": _STR,
            "color": _STR,
            "category_path": _STR,
            "attributes": pa.Column(
                str, pa.Check(_json_object_or_null, name="json_object"), nullable=True, coerce=True, required=False
            ),
            "image_path": _STR,
            "locale": pa.Column(str, nullable=False, coerce=True),
        },
        strict=False,
    ),
    "listings": pa.DataFrameSchema(
        {
            "product_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), unique=True, coerce=True),
            "title": pa.Column(str, nullable=False, coerce=True),
            "description": _STR,
            "category_path": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "image_path": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "locale": pa.Column(str, nullable=False, coerce=True),
        },
        strict=False,
    ),
    "queries": pa.DataFrameSchema(
        {
            "query_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), unique=True, coerce=True),
            "text": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
        },
        strict=False,
    ),
    "qrels": pa.DataFrameSchema(
        {
            "query_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "product_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "gain": pa.Column(float, [pa.Check.ge(0), pa.Check(lambda s: np.isfinite(s), name="finite")],
                              coerce=True),
            "label": pa.Column(str, nullable=True, coerce=True),
        },
        unique=["query_id", "product_id"],
        strict=False,
    ),
    "events": pa.DataFrameSchema(
        {
            "session_id": pa.Column(str, coerce=True),
            "timestamp": pa.Column("datetime64[us, UTC]", coerce=True),
            "query": pa.Column(str, nullable=True, coerce=True),
            "product_id": pa.Column(str, nullable=True, coerce=True),
            "position": pa.Column("Int64", pa.Check.ge(1), nullable=True, coerce=True),
            "event_type": pa.Column(str, pa.Check.isin(EVENT_TYPES), coerce=True),
        },
        strict=False,
    ),
}

COLUMNS: dict[str, list[str]] = {
    "products": [
        "product_id", "title", "description", "brand", "color",
        "category_path", "attributes", "image_path", "locale",
    ],
    "listings": [
        "product_id", "title", "description", "brand", "color",
        "category_path", "attributes", "image_path", "locale",
    ],
    "queries": ["query_id", "text"],
    "qrels": ["query_id", "product_id", "gain", "label"],
    "events": ["session_id", "timestamp", "query", "product_id", "position", "event_type"],
}


def empty(kind: TableKind) -> pd.DataFrame:
    """An empty table of ``kind`` with the contract's columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS[kind]})


def conform(df: pd.DataFrame, kind: TableKind, *, default_locale: str = "en-US") -> pd.DataFrame:
    """Add missing optional columns (as nulls) and order the contract's columns first.

    A missing column that may not be null (e.g. ``qrels.product_id``) is *not* added, so
    :func:`validate` reports it once as a missing column instead of once per row as null.
    Extra columns are kept after the contract's. Does not validate: call :func:`validate`.
    """
    out = df.copy()
    schema = SCHEMAS[kind].columns
    for col in COLUMNS[kind]:
        if col not in out.columns:
            spec = schema.get(col)
            if col != "locale" and spec is not None and spec.required and not spec.nullable:
                continue
            out[col] = default_locale if col == "locale" else None
    if kind in ("products", "listings"):
        out["locale"] = out["locale"].fillna(default_locale)
    extra = [c for c in out.columns if c not in COLUMNS[kind]]
    return out[[c for c in COLUMNS[kind] if c in out.columns] + extra].reset_index(drop=True)


def validate(df: pd.DataFrame, kind: TableKind, source: str = "<memory>", max_report: int = 10) -> pd.DataFrame:
    """Validate ``df`` against the ``kind`` contract and return it with coerced dtypes.

    Args:
        df: table to check; rows are reported by their 0-based position in ``df``.
        kind: one of ``products``, ``queries``, ``qrels``, ``events``, ``listings``.
        source: file path (or other name) quoted in the error.
        max_report: how many failing cells to spell out in the message.

    Raises:
        ContractError: with ``file=<source> row=<n> column=<col> check=<check> value=<v>`` lines.
    """
    if kind not in SCHEMAS:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {sorted(SCHEMAS)}")
    return validate_schema(df, SCHEMAS[kind], kind, source, max_report)


def validate_schema(
    df: pd.DataFrame, schema: pa.DataFrameSchema, kind: str, source: str = "<memory>", max_report: int = 10
) -> pd.DataFrame:
    """Validate ``df`` against any pandera ``schema`` with this module's error format.

    Shared by :func:`validate` and the other contracts (e.g. :mod:`discovery_pipelines.data.histories`).

    Raises:
        ContractError: with ``file=<source> row=<n> column=<col> check=<check> value=<v>`` lines.
    """
    missing = [c for c in schema.columns if schema.columns[c].required and c not in df.columns]
    if missing:
        raise ContractError(
            f"{source}: {kind} table is missing required column(s) {missing}; has {list(df.columns)}"
        )
    frame = df.reset_index(drop=True)
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.rename(columns={"index": "row", "failure_case": "value"})
        fc = fc[[c for c in ("row", "column", "check", "value") if c in fc.columns]]
        lines = []
        for r in fc.head(max_report).itertuples(index=False):
            row = getattr(r, "row", None)
            row_s = "?" if row is None or pd.isna(row) else str(int(row))
            lines.append(f"  file={source} row={row_s} column={r.column} check={r.check} value={r.value!r}")
        more = f"\n  ... and {len(fc) - max_report} more" if len(fc) > max_report else ""
        raise ContractError(
            f"{source}: {len(fc)} contract violation(s) in the {kind} table:\n" + "\n".join(lines) + more, fc
        ) from None


def _offenders(df: pd.DataFrame, column: str, known: set[str]) -> pd.Series:
    vals = df[column]
    return vals.notna() & ~vals.astype(str).isin(known)


def check_references(
    products: pd.DataFrame,
    queries: pd.DataFrame | None,
    qrels: pd.DataFrame,
    *,
    events: pd.DataFrame | None = None,
    policy: OnUnknown = "reject",
    source: str = "<memory>",
    check_products: bool = True,
    max_report: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, dict[str, int]]]:
    """Referential integrity between validated contract tables.

    Checks that every ``qrels.query_id`` is in ``queries`` (skipped when ``queries`` is ``None``) and
    every ``qrels.product_id`` and non-null ``events.product_id`` is in ``products`` (skipped with
    ``check_products=False``, for sources that ship judgments without a catalogue).

    Args:
        policy: ``reject`` (default) raises; ``drop`` removes the offending rows.
        source: file or dataset name quoted in the error.

    Returns:
        ``(qrels, events, dropped)``: the kept rows (index reset) and
        ``{"qrels": {"unknown_query": n, "unknown_product": m}, "events": {"unknown_product": k}}``
        (all zero under ``reject``).

    Raises:
        ContractError: under ``reject``, naming the table, the count per column and the first
            ``max_report`` offending rows (0-based row, column, value); ``.failures`` holds them all.
        ValueError: unknown ``policy``.
    """
    if policy not in ON_UNKNOWN:
        raise ValueError(f"on_unknown_ids must be one of {ON_UNKNOWN}, got {policy!r}")
    pids = set(products["product_id"].astype(str))
    checks: list[tuple[str, pd.DataFrame, str, set[str]]] = []
    if queries is not None:
        checks.append(("qrels", qrels, "query_id", set(queries["query_id"].astype(str))))
    if check_products:
        checks.append(("qrels", qrels, "product_id", pids))
        if events is not None:
            checks.append(("events", events, "product_id", pids))
    bad: dict[str, pd.Series] = {}
    failures, lines = [], []
    dropped: dict[str, dict[str, int]] = {"qrels": {"unknown_query": 0, "unknown_product": 0}}
    if events is not None:
        dropped["events"] = {"unknown_product": 0}
    for table, df, col, known in checks:
        mask = _offenders(df, col, known)
        n = int(mask.sum())
        if not n:
            continue
        bad[table] = bad[table] | mask if table in bad else mask
        dropped[table][f"unknown_{col.removesuffix('_id')}"] = n
        rows = df.reset_index(drop=True).index[mask.to_numpy()]
        failures.append(pd.DataFrame({"table": table, "row": rows, "column": col,
                                      "check": f"known_{col}", "value": df[col].to_numpy()[mask.to_numpy()]}))
        what = "query" if col == "query_id" else "product"
        lines.append(f"  {table}: {n} row(s) name an unknown {what} ({col} not in the "
                     f"{'queries' if col == 'query_id' else 'products'} table of {len(known)} ids)")
        for r, v in list(zip(rows, df[col].to_numpy()[mask.to_numpy()]))[:max_report]:
            lines.append(f"    file={source} table={table} row={int(r)} column={col} value={v!r}")
    if not bad:
        return qrels.reset_index(drop=True), None if events is None else events.reset_index(drop=True), dropped
    if policy == "reject":
        raise ContractError(
            f"{source}: referential integrity broken (policy on_unknown_ids=reject; set it to 'drop' to "
            "drop and count these rows):\n" + "\n".join(lines), pd.concat(failures, ignore_index=True))
    q = qrels[~bad["qrels"]] if "qrels" in bad else qrels
    e = events[~bad["events"]] if events is not None and "events" in bad else events
    return q.reset_index(drop=True), None if e is None else e.reset_index(drop=True), dropped

