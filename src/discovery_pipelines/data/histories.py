"""The order-histories contract: purchase lines, the products they name, and the users.

Every histories adapter (:mod:`discovery_pipelines.data.ingest.completejourney`,
:mod:`discovery_pipelines.data.ingest.instacart_histories`) produces these tables and every
recommendation pipeline consumes them. All ids are strings.

``lines``     one row per product per basket (a basket = one order / shopping trip):

              ============ ======================= ================================================
              user_id      str, non-empty          household / customer
              basket_id    str, non-empty          one user and one timestamp per basket
              timestamp    datetime64[us, UTC]     when the basket was bought (see each adapter for
                                                   how it is derived when the source has no clock)
              product_id   str, non-empty          present in ``products``
              quantity     int64 >= 0              units bought (see the adapters' quantity decisions)
              price        float64 >= 0, nullable  unit price paid, source currency (dollars): line
                                                   value / quantity; null where the source has none
              discount     float64 >= 0, nullable  total discount on the line (dollars), null if none
              store_id     str, nullable           store the basket was bought in
              day_of_week  int64 in 0..6           0 = Monday ... 6 = Sunday, store-local clock
              hour         Int64 in 0..23, null    hour of day, store-local clock
              ============ ======================= ================================================

``products``  product_id (unique), title (non-empty text for the text model), department (non-empty),
              category, product_type, brand, size (nullable strings). Extra columns are allowed.
``users``     user_id (unique) plus whatever the source knows (demographics, source labels).

:func:`validate_histories` checks the column contracts (pandera, ``lazy=True``, errors in the format
of :mod:`discovery_pipelines.data.contract`) and the table-level rules: each basket has one user and
one timestamp, and every line's product is in ``products``. :class:`Histories` also carries the
adapter's counted ``decisions`` (how many lines each data-quality rule changed or dropped), so no
line disappears silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pandera.pandas as pa

from discovery_pipelines.data.contract import ContractError, _nonempty, validate_schema

HistoriesKind = Literal["lines", "products", "users"]

LINE_COLUMNS = [
    "user_id", "basket_id", "timestamp", "product_id", "quantity",
    "price", "discount", "store_id", "day_of_week", "hour",
]
PRODUCT_COLUMNS = ["product_id", "title", "department", "category", "product_type", "brand", "size"]
USER_COLUMNS = ["user_id"]

_ID = pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True)
_OPT_STR = pa.Column(str, nullable=True, coerce=True)
_MONEY = pa.Column(float, pa.Check.ge(0), nullable=True, coerce=True)

HISTORIES_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "lines": pa.DataFrameSchema(
        {
            "user_id": _ID,
            "basket_id": _ID,
            "timestamp": pa.Column("datetime64[us, UTC]", coerce=True),
            "product_id": _ID,
            "quantity": pa.Column("int64", pa.Check.ge(0), coerce=True),
            "price": _MONEY,
            "discount": _MONEY,
            "store_id": _OPT_STR,
            "day_of_week": pa.Column("int64", pa.Check.in_range(0, 6), coerce=True),
            "hour": pa.Column("Int64", pa.Check.in_range(0, 23), nullable=True, coerce=True),
        },
        strict=False,
    ),
    "products": pa.DataFrameSchema(
        {
            "product_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), unique=True, coerce=True),
            "title": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "department": pa.Column(str, pa.Check(_nonempty, name="non_empty"), coerce=True),
            "category": _OPT_STR,
            "product_type": _OPT_STR,
            "brand": _OPT_STR,
            "size": _OPT_STR,
        },
        strict=False,
    ),
    "users": pa.DataFrameSchema(
        {"user_id": pa.Column(str, pa.Check(_nonempty, name="non_empty"), unique=True, coerce=True)},
        strict=False,
    ),
}

_COLUMNS = {"lines": LINE_COLUMNS, "products": PRODUCT_COLUMNS, "users": USER_COLUMNS}


def conform_histories(df: pd.DataFrame, kind: HistoriesKind) -> pd.DataFrame:
    """Add missing optional contract columns as nulls and order the contract's columns first.

    Extra columns are kept after the contract's. Does not validate: call :func:`validate_histories`.
    """
    out = df.copy()
    for col in _COLUMNS[kind]:
        if col not in out.columns:
            out[col] = None
    extra = [c for c in out.columns if c not in _COLUMNS[kind]]
    return out[_COLUMNS[kind] + extra].reset_index(drop=True)


def _first_rows(mask: pd.Series, n: int = 5) -> list[int]:
    return [int(i) for i in mask[mask].index[:n]]


def validate_histories(
    df: pd.DataFrame, kind: HistoriesKind, source: str = "<memory>", products: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Validate one histories table and return it with coerced dtypes.

    Args:
        df: the table; rows are reported by their 0-based position in ``df``.
        kind: ``lines``, ``products`` or ``users``.
        source: file path (or other name) quoted in errors.
        products: for ``lines``, the (validated) products table every ``product_id`` must be in.

    Raises:
        ContractError: a cell breaks the column contract (``file=.. row=.. column=.. check=..``), a
            basket has more than one user or timestamp, or a line names a product not in ``products``.
    """
    if kind not in HISTORIES_SCHEMAS:
        raise ValueError(f"unknown histories table {kind!r}; expected one of {sorted(HISTORIES_SCHEMAS)}")
    out = validate_schema(df, HISTORIES_SCHEMAS[kind], f"histories {kind}", source)
    if kind != "lines":
        return out
    per_basket = out.groupby("basket_id", sort=False).agg(
        n_users=("user_id", "nunique"), n_times=("timestamp", "nunique")
    )
    bad = per_basket[(per_basket["n_users"] > 1) | (per_basket["n_times"] > 1)]
    if len(bad):
        rows = _first_rows(out["basket_id"].isin(set(bad.index[:5])))
        raise ContractError(
            f"{source}: {len(bad)} basket(s) with more than one user or timestamp, e.g. basket_id="
            f"{bad.index[0]!r} (rows {rows}, column=basket_id check=one_user_one_time)"
        )
    if products is not None:
        unknown = ~out["product_id"].isin(set(products["product_id"].astype(str)))
        if unknown.any():
            raise ContractError(
                f"{source}: {int(unknown.sum())} line(s) name a product_id missing from products, e.g. rows "
                f"{_first_rows(unknown)} column=product_id value={out.loc[unknown, 'product_id'].iloc[0]!r}"
            )
    return out


@dataclass
class Histories:
    """Validated order histories of one source.

    Attributes:
        name: source name (``completejourney``, ``instacart_histories``...).
        lines: the ``lines`` table, sorted by user_id, timestamp, basket_id.
        products: the ``products`` table (every product a line names, maybe more).
        users: one row per user with the source's user attributes.
        decisions: counted data-quality decisions of the adapter (name -> number of lines/rows).
    """

    name: str
    lines: pd.DataFrame
    products: pd.DataFrame
    users: pd.DataFrame
    decisions: dict[str, int] = field(default_factory=dict)

    def validated(self, source: str) -> "Histories":
        """A copy whose three tables passed :func:`validate_histories` (errors name ``source``)."""
        products = validate_histories(conform_histories(self.products, "products"), "products", f"{source} (products)")
        lines = validate_histories(
            conform_histories(self.lines, "lines"), "lines", f"{source} (lines)", products=products
        )
        users = validate_histories(conform_histories(self.users, "users"), "users", f"{source} (users)")
        missing = ~lines["user_id"].isin(set(users["user_id"]))
        if missing.any():
            raise ContractError(
                f"{source} (lines): {int(missing.sum())} line(s) name a user_id missing from users, e.g. rows "
                f"{_first_rows(missing)} column=user_id value={lines.loc[missing, 'user_id'].iloc[0]!r}"
            )
        lines = lines.sort_values(["user_id", "timestamp", "basket_id"], kind="stable").reset_index(drop=True)
        return Histories(self.name, lines, products, users, dict(self.decisions))


def stub_unknown_products(lines: pd.DataFrame, products: pd.DataFrame, department: str = "UNKNOWN") -> pd.DataFrame:
    """Products rows for every ``lines.product_id`` missing from ``products``.

    The lines are kept (they are real purchases); each unknown id gets a row with
    ``title = "unknown product <id>"``, ``department = department`` and ``in_source_catalogue = False``.
    Returns only the new rows (possibly empty), columns of the products contract plus the flag.
    """
    ids = pd.Index(lines["product_id"].astype(str).unique()).difference(pd.Index(products["product_id"].astype(str)))
    return pd.DataFrame(
        {
            "product_id": list(ids),
            "title": [f"unknown product {i}" for i in ids],
            "department": department,
            "in_source_catalogue": False,
        }
    )
