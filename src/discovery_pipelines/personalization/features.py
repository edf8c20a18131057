"""Per-user, per-item and per-(user, item) aggregates over the purchase lines, in SQL.

One SQL text runs on DuckDB (default, embedded) or Spark SQL (by configuration), on the connections
the log-mining engines set up (:func:`discovery_pipelines.log_mining.mining.duckdb_connect`,
:func:`~discovery_pipelines.log_mining.mining.spark_session`); the parity test checks both give the same
tables. Input: a ``history`` view with u, i, basket_id, basket_pos, quantity, price, discount, hour,
day_of_week (the lines of one evaluation stage). Dayparts: 0 = before 11h, 1 = 11-15h, 2 = 15-19h,
3 = from 19h (store clock).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

HISTORY_COLUMNS = ["u", "i", "basket_id", "basket_pos", "quantity", "price", "discount", "hour", "day_of_week"]

_DISC = "CASE WHEN discount IS NULL THEN NULL WHEN discount > 0 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END"
_DAYPART = "CASE WHEN hour IS NULL THEN NULL WHEN hour < 11 THEN 0 WHEN hour < 15 THEN 1 WHEN hour < 19 THEN 2 ELSE 3 END"

SQL: dict[str, str] = {
    "user_item": """
        SELECT u, i,
               COUNT(DISTINCT basket_id) AS ui_baskets,
               MAX(basket_pos) AS ui_last_pos,
               MIN(basket_pos) AS ui_first_pos,
               SUM(quantity) AS ui_quantity,
               AVG(price) AS ui_avg_price
        FROM history GROUP BY u, i""",
    "user": f"""
        SELECT u,
               COUNT(DISTINCT basket_id) AS u_baskets,
               MAX(basket_pos) AS u_last_pos,
               COUNT(*) AS u_lines,
               COUNT(DISTINCT i) AS u_distinct_items,
               AVG(price) AS u_avg_price,
               AVG({_DISC}) AS u_discount_share,
               AVG(CASE WHEN day_of_week >= 5 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS u_weekend_share
        FROM history GROUP BY u""",
    "item": f"""
        SELECT i,
               COUNT(DISTINCT basket_id) AS i_baskets,
               COUNT(DISTINCT u) AS i_users,
               AVG(price) AS i_avg_price,
               AVG({_DISC}) AS i_discount_share,
               AVG(CASE WHEN {_DAYPART} = 0 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_daypart0_share,
               AVG(CASE WHEN {_DAYPART} = 1 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_daypart1_share,
               AVG(CASE WHEN {_DAYPART} = 2 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_daypart2_share,
               AVG(CASE WHEN {_DAYPART} = 3 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_daypart3_share,
               AVG(CASE WHEN day_of_week >= 5 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_weekend_share
        FROM history GROUP BY i""",
    "item_repeat": """
        SELECT i, AVG(CASE WHEN n >= 2 THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS i_repeat_rate
        FROM (SELECT u, i, COUNT(DISTINCT basket_id) AS n FROM history GROUP BY u, i) t
        GROUP BY i""",
}
KEYS = {"user_item": ["u", "i"], "user": ["u"], "item": ["i"], "item_repeat": ["i"]}
ENGINES = ("duckdb", "spark")


def _tidy(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in tables.items():
        df = df.sort_values(KEYS[name], kind="stable").reset_index(drop=True)
        for c in df.columns:
            df[c] = df[c].astype("int64") if c in KEYS[name] or c.endswith(("_pos", "_baskets", "_users", "_lines", "_items")) else df[c].astype("float64")
        out[name] = df
    return out


def features_duckdb(history: pd.DataFrame, threads: int | None = None, memory_limit: str | None = "2GB") -> dict[str, pd.DataFrame]:
    """Run :data:`SQL` on DuckDB over ``history`` (a DataFrame, registered zero-copy via Arrow)."""
    import pyarrow as pa

    from discovery_pipelines.log_mining.mining import duckdb_connect

    con = duckdb_connect(threads=threads, memory_limit=memory_limit)
    try:
        con.register("history", pa.Table.from_pandas(history[HISTORY_COLUMNS], preserve_index=False))
        return _tidy({name: con.sql(sql).to_arrow_table().to_pandas() for name, sql in SQL.items()})
    finally:
        con.close()


def features_spark(history: pd.DataFrame, spark=None, master: str = "local[1]",
                   conf: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Run :data:`SQL` on Spark SQL (history staged as Parquet in a temporary folder)."""
    import contextlib

    from discovery_pipelines.log_mining.mining import spark_session

    with tempfile.TemporaryDirectory() as tmp, (
        contextlib.nullcontext(spark) if spark is not None else spark_session(master, conf, "personalization")
    ) as sp:
        path = Path(tmp) / "history.parquet"
        history[HISTORY_COLUMNS].to_parquet(path, index=False)
        sp.read.parquet(str(path)).createOrReplaceTempView("history")
        out = {}
        for name, sql in SQL.items():
            rows = sp.sql(sql).collect()
            cols = sp.sql(sql).columns
            out[name] = pd.DataFrame([r.asDict() for r in rows], columns=cols)
        return _tidy(out)


def build_features(history: pd.DataFrame, engine: str = "duckdb", **options: Any) -> dict[str, pd.DataFrame]:
    """The four aggregate tables (user_item, user, item, item_repeat) of ``history``.

    Raises:
        ValueError: unknown ``engine``. KeyError: a column of :data:`HISTORY_COLUMNS` is missing.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise KeyError(f"history lacks column(s) {missing}")
    if engine == "duckdb":
        return features_duckdb(history, **options)
    if engine == "spark":
        return features_spark(history, **options)
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
