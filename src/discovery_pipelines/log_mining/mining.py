"""Mine (query, product) training pairs from search events: one SQL logic, two engines.

The logic is two SQL texts (:data:`STAGE1_SQL`, :data:`STAGE2_SQL`) that DuckDB and Spark SQL both
run unchanged; only the driver differs:

* **DuckDB** (embedded default): stage 1 runs once per ``date=`` partition (sessions never cross a
  partition), straight over the Parquet files with a memory limit and a spill directory, so memory
  is bounded by one partition whatever the log size (out-of-core). Partial aggregates are summed in
  stage 2.
* **Spark** (``spark.master`` from config; ``local[*]`` in tests): stage 1 runs once over the whole
  log, stage 2 over its result.

Stage 1 (per event row, in precedence order; the first failing rule names the drop reason):

1. ``null_or_empty_query``: query null or blank (blank after :func:`text.normalize_query` is caught
   in stage 2, on the tiny aggregated table);
2. ``unknown_product``: product id null or not in the catalogue (a non-null unknown id is a
   referential-integrity error under the default policy ``on_unknown_ids="reject"``; see :func:`mine_events`);
3. ``invalid_position``: position null or < 1 (positions are 1-based);
4. ``unknown_event_type`` / ``missing_session_or_timestamp``;
5. exact duplicate rows collapse to one (the extra copies are counted as ``duplicate``);
6. ``engagement_without_impression`` / ``out_of_order_timestamp``: a click / cart / purchase with no
   impression of the same (session, query, product), or time-stamped before its first impression.

Every dropped row is counted. Only unknown product ids stop a run (default policy ``reject``), and
nothing is written until all is done.

Stage 2 groups by (normalised query, product): impressions, clicks, carts, purchases, mean
impression position, CTR = clicks / impressions and the Wilson score lower bound of the CTR
(the lower end of :func:`discovery_pipelines.search.metrics.wilson_interval`). Positives: ``impressions >= min_impressions`` and
``wilson_lb >= positive_threshold``. Log negatives: shown at least ``negative_min_impressions``
times at a mean position <= ``negative_max_position`` and never clicked, carted or bought.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from discovery_pipelines.data.contract import COLUMNS, EVENT_TYPES, ContractError
from discovery_pipelines.data.params import Params
from discovery_pipelines.data.text import normalize_query

DROP_REASONS = (
    "null_or_empty_query", "unknown_product", "invalid_position", "unknown_event_type",
    "missing_session_or_timestamp", "duplicate", "engagement_without_impression", "out_of_order_timestamp",
)
_TYPES = ", ".join(f"'{t}'" for t in EVENT_TYPES)

#: Stage 1: clean + per-(raw query, product) partial counts. Inputs: ``events``, ``catalog(product_id)``.
STAGE1_SQL = f"""
WITH src AS (
  SELECT e.session_id, e.timestamp AS ts, e.query, e.product_id, e.position, e.event_type,
    CASE
      WHEN e.query IS NULL OR trim(e.query) = '' THEN 'null_or_empty_query'
      WHEN c.product_id IS NULL THEN 'unknown_product'
      WHEN e.position IS NULL OR e.position < 1 THEN 'invalid_position'
      WHEN e.event_type IS NULL OR e.event_type NOT IN ({_TYPES}) THEN 'unknown_event_type'
      WHEN e.session_id IS NULL OR e.timestamp IS NULL THEN 'missing_session_or_timestamp'
      ELSE 'ok'
    END AS reason
  FROM events e LEFT JOIN catalog c ON e.product_id = c.product_id
),
dedup AS (
  SELECT reason, session_id, ts, query, product_id, position, event_type, CAST(COUNT(*) AS BIGINT) AS n_copies
  FROM src
  GROUP BY reason, session_id, ts, query, product_id, position, event_type
),
seq AS (
  SELECT reason, ts, query, product_id, position, event_type, n_copies,
    MIN(CASE WHEN event_type = 'impression' THEN ts END)
      OVER (PARTITION BY reason, session_id, query, product_id) AS first_impression
  FROM dedup
),
cls AS (
  SELECT
    CASE
      WHEN reason <> 'ok' THEN reason
      WHEN event_type = 'impression' THEN 'ok'
      WHEN first_impression IS NULL THEN 'engagement_without_impression'
      WHEN ts < first_impression THEN 'out_of_order_timestamp'
      ELSE 'ok'
    END AS reason,
    query, product_id, position, event_type, n_copies
  FROM seq
),
keyed AS (
  SELECT reason,
    CASE WHEN reason = 'ok' THEN query END AS query,
    CASE WHEN reason = 'ok' THEN product_id END AS product_id,
    position, event_type, n_copies
  FROM cls
)
SELECT reason, query, product_id,
  CAST(SUM(CASE WHEN event_type = 'impression' THEN 1 ELSE 0 END) AS BIGINT) AS impressions,
  CAST(SUM(CASE WHEN event_type = 'click' THEN 1 ELSE 0 END) AS BIGINT) AS clicks,
  CAST(SUM(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS BIGINT) AS carts,
  CAST(SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS BIGINT) AS purchases,
  CAST(SUM(CASE WHEN event_type = 'impression' THEN position ELSE 0 END) AS BIGINT) AS position_sum,
  CAST(SUM(n_copies) AS BIGINT) AS n_rows,
  CAST(SUM(n_copies - 1) AS BIGINT) AS n_duplicates
FROM keyed
GROUP BY reason, query, product_id
"""

#: Stage 2: pairs by normalised query. Inputs: ``partials`` (stage 1 rows), ``query_map(query, query_norm)``.
#: ``{z}``, ``{min_impressions}`` ... are filled by :func:`stage2_sql` with typed literals.
STAGE2_SQL = """
WITH ok AS (
  SELECT m.query_norm, p.query, p.product_id, p.impressions, p.clicks, p.carts, p.purchases, p.position_sum
  FROM partials p JOIN query_map m ON p.query = m.query
  WHERE p.reason = 'ok' AND m.query_norm <> ''
),
agg AS (
  SELECT query_norm, MIN(query) AS query, product_id,
    CAST(SUM(impressions) AS BIGINT) AS impressions, CAST(SUM(clicks) AS BIGINT) AS clicks,
    CAST(SUM(carts) AS BIGINT) AS carts, CAST(SUM(purchases) AS BIGINT) AS purchases,
    CAST(SUM(position_sum) AS BIGINT) AS position_sum
  FROM ok
  GROUP BY query_norm, product_id
),
rates AS (
  SELECT query_norm, query, product_id, impressions, clicks, carts, purchases,
    CAST(clicks AS DOUBLE) / CAST(impressions AS DOUBLE) AS ctr,
    CAST(LEAST(clicks, impressions) AS DOUBLE) / CAST(impressions AS DOUBLE) AS p_hat,
    CAST(impressions AS DOUBLE) AS n,
    CAST(position_sum AS DOUBLE) / CAST(impressions AS DOUBLE) AS mean_position
  FROM agg
  WHERE impressions > 0
),
scored AS (
  SELECT query_norm, query, product_id, impressions, clicks, carts, purchases, ctr, mean_position,
    (p_hat + {z} * {z} / (2.0E0 * n)
       - {z} * SQRT(p_hat * (1.0E0 - p_hat) / n + {z} * {z} / (4.0E0 * n * n)))
      / (1.0E0 + {z} * {z} / n) AS wilson_lb
  FROM rates
)
SELECT query_norm, query, product_id, impressions, clicks, carts, purchases, ctr, wilson_lb, mean_position,
  (impressions >= {min_impressions} AND wilson_lb >= {threshold}) AS is_positive,
  (impressions >= {neg_min_impressions} AND mean_position <= {neg_max_position}
     AND clicks = 0 AND carts = 0 AND purchases = 0) AS is_negative
FROM scored
"""

#: Drop accounting over ``partials`` and ``query_map``: rows and duplicate copies per reason, with
#: ``blank`` marking kept rows whose query normalises to "" (dropped as ``null_or_empty_query``).
SUMMARY_SQL = """
SELECT p.reason, COALESCE(m.query_norm = '', FALSE) AS blank,
  CAST(SUM(p.n_rows) AS BIGINT) AS n_rows, CAST(SUM(p.n_duplicates) AS BIGINT) AS n_duplicates
FROM partials p LEFT JOIN query_map m ON p.query = m.query
GROUP BY p.reason, COALESCE(m.query_norm = '', FALSE)
"""

PAIR_COLUMNS = ["query", "query_norm", "product_id", "impressions", "clicks", "carts", "purchases", "ctr",
                "wilson_lb", "mean_position", "is_positive", "is_negative"]


def _lit(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


class MiningParams(Params):
    """Thresholds of the mining (see the module docstring).

    Attributes:
        z: standard-normal quantile of the Wilson bound (1.96 = 95 % two-sided).
        positive_threshold: minimum Wilson lower bound of the CTR for a positive.
        min_impressions: minimum impressions for a positive.
        negative_min_impressions: minimum impressions for a log negative.
        negative_max_position: a log negative's mean impression position must be <= this (1-based).
    """

    z: float = 1.96
    positive_threshold: float = 0.2
    min_impressions: int = 10
    negative_min_impressions: int = 20
    negative_max_position: float = 5.0


def stage2_sql(params: MiningParams) -> str:
    """:data:`STAGE2_SQL` with the parameters as typed literals (identical text for both engines)."""
    return STAGE2_SQL.format(
        z=_lit(params.z), threshold=_lit(params.positive_threshold), min_impressions=int(params.min_impressions),
        neg_min_impressions=int(params.negative_min_impressions), neg_max_position=_lit(params.negative_max_position),
    )


@dataclass
class MiningResult:
    """Output of :func:`mine_events`.

    Attributes:
        pairs: one row per (query_norm, product_id) with impressions > 0, columns :data:`PAIR_COLUMNS`
            (counts int64, ctr / wilson_lb / mean_position float64, flags bool), sorted by
            (query_norm, product_id).
        report: input rows, kept rows, dropped rows per reason (:data:`DROP_REASONS`), engine, timings.
    """

    pairs: pd.DataFrame
    report: dict = field(default_factory=dict)

    @property
    def positives(self) -> pd.DataFrame:
        return self.pairs[self.pairs["is_positive"]].reset_index(drop=True)

    @property
    def negatives(self) -> pd.DataFrame:
        return self.pairs[self.pairs["is_negative"]].reset_index(drop=True)


def partitions(events_path: str | Path) -> list[list[str]]:
    """Parquet files of an events folder grouped by partition directory (sorted), or one group.

    Raises:
        FileNotFoundError: the path does not exist or holds no ``*.parquet`` file.
    """
    root = Path(events_path)
    if root.is_file():
        return [[str(root)]]
    if not root.is_dir():
        raise FileNotFoundError(f"events path {root} does not exist")
    files = sorted(f for f in glob.glob(str(root / "**" / "*.parquet"), recursive=True)
                   if not any(part.startswith((".", "_")) for part in Path(f).relative_to(root).parts))
    if not files:
        raise FileNotFoundError(f"no *.parquet files under {root}")
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(str(Path(f).parent), []).append(f)
    return [groups[k] for k in sorted(groups)]


def check_schema(files: Sequence[str]) -> None:
    """Every file has the events contract's columns.

    Raises:
        ContractError: naming the file and the missing column(s).
    """
    for f in files:
        names = set(pq.read_schema(f).names)
        missing = [c for c in COLUMNS["events"] if c not in names]
        if missing:
            raise ContractError(f"{f}: events file is missing column(s) {missing}; has {sorted(names)}")


def _query_map(queries: Sequence[str | None]) -> pd.DataFrame:
    qs = sorted({q for q in queries if isinstance(q, str)})
    return pd.DataFrame({"query": qs, "query_norm": [normalize_query(q) for q in qs]})


def _finish(summary: pd.DataFrame, pairs: pd.DataFrame, engine: str) -> MiningResult:
    summary = summary.astype({"n_rows": "int64", "n_duplicates": "int64", "blank": "bool"})
    ok = summary[summary["reason"] == "ok"]
    blank = ok[ok["blank"]]
    dropped = {r: int(summary.loc[summary["reason"] == r, "n_rows"].sum()) for r in DROP_REASONS}
    dropped["duplicate"] = int(ok["n_duplicates"].sum())
    dropped["null_or_empty_query"] += int(blank["n_rows"].sum() - blank["n_duplicates"].sum())
    input_rows = int(summary["n_rows"].sum())
    pairs = pairs.astype({"impressions": "int64", "clicks": "int64", "carts": "int64", "purchases": "int64",
                          "ctr": "float64", "wilson_lb": "float64", "mean_position": "float64",
                          "is_positive": "bool", "is_negative": "bool"})
    pairs = pairs[PAIR_COLUMNS].sort_values(["query_norm", "product_id"], kind="stable").reset_index(drop=True)
    report = {
        "engine": engine, "input_rows": input_rows, "kept_rows": input_rows - sum(dropped.values()),
        "dropped_rows": int(sum(dropped.values())), "dropped": dropped,
        "pairs": int(len(pairs)), "positives": int(pairs["is_positive"].sum()),
        "negatives": int(pairs["is_negative"].sum()), "distinct_queries": int(pairs["query_norm"].nunique()),
    }
    return MiningResult(pairs, report)


# ----------------------------------------------------------------------------------------------- DuckDB
def duckdb_connect(threads: int | None = None, memory_limit: str | None = "2GB",
                   temp_directory: str | None = None):
    """An in-memory DuckDB connection set up for out-of-core aggregation (spill to ``temp_directory``)."""
    import duckdb

    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        Path(temp_directory).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{temp_directory}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _catalog_table(product_ids: Sequence[str]) -> pa.Table:
    """The catalogue's distinct ids as a one-column (``product_id``, string) Arrow table, sorted."""
    return pa.table({"product_id": pa.array(sorted(set(map(str, product_ids))), pa.string())})


def _sql_files(files: Sequence[str]) -> str:
    """Parquet paths as the body of a DuckDB list literal (single quotes escaped)."""
    return ", ".join("'" + f.replace("'", "''") + "'" for f in files)


def mine_duckdb(events_path: str | Path, product_ids: Sequence[str], params: MiningParams,
                con=None, progress: bool = False, **connect_kwargs: Any) -> MiningResult:
    """Run the two stages on DuckDB, stage 1 partition by partition (see the module docstring)."""
    from tqdm.auto import tqdm

    groups = partitions(events_path)
    check_schema([f for g in groups for f in g])
    own = con is None
    con = con or duckdb_connect(**connect_kwargs)
    try:
        con.register("catalog_src", _catalog_table(product_ids))
        con.execute("CREATE OR REPLACE TEMP TABLE catalog AS SELECT product_id FROM catalog_src")
        cols = ", ".join(COLUMNS["events"])
        parts = []
        for files in tqdm(groups, desc="mine (duckdb)", unit="partition", disable=not progress):
            con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {cols} FROM read_parquet([{_sql_files(files)}], "
                        "hive_partitioning = false, union_by_name = true)")
            parts.append(con.sql(STAGE1_SQL).to_arrow_table())
        partials = pa.concat_tables(parts, promote_options="permissive") if parts else None
        con.register("partials", partials)
        qmap = _query_map(pc.unique(partials.column("query")).to_pylist())
        con.register("query_map", pa.Table.from_pandas(qmap, preserve_index=False))
        pairs = con.sql(stage2_sql(params)).to_arrow_table().to_pandas()
        summary = con.sql(SUMMARY_SQL).to_arrow_table().to_pandas()
        return _finish(summary, pairs, "duckdb")
    finally:
        if own:
            con.close()


# ------------------------------------------------------------------------------------------------ Spark
@contextlib.contextmanager
def spark_session(master: str = "local[1]", conf: Mapping[str, Any] | None = None,
                  app_name: str = "log_mining") -> Iterator[Any]:
    """A Spark session (``spark.master`` from config; UI off, UTC, few shuffle partitions by default).

    Yields the existing active session unchanged when there is one (it is then not stopped).
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    builder = SparkSession.builder.master(master).appName(app_name)
    defaults = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
                "spark.sql.session.timeZone": "UTC", "spark.driver.memory": "1g",
                "spark.sql.execution.arrow.pyspark.enabled": "true", "spark.ui.showConsoleProgress": "false"}
    for k, v in {**defaults, **dict(conf or {})}.items():
        builder = builder.config(k, str(v))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _spark_to_pandas(df) -> pd.DataFrame:
    """A Spark DataFrame as pandas through Arrow (``DataFrame.toArrow()``, pyspark >= 4.0): columnar batches
    from the JVM instead of one Python ``Row`` object per result row (``collect()``)."""
    return df.toArrow().to_pandas()


def mine_spark(events_path: str | Path, product_ids: Sequence[str], params: MiningParams,
               spark=None, master: str = "local[1]", conf: Mapping[str, Any] | None = None) -> MiningResult:
    """Run the two stages on Spark SQL (stage 1 over the whole log at once)."""
    groups = partitions(events_path)
    files = [f for g in groups for f in g]
    check_schema(files)
    ctx = contextlib.nullcontext(spark) if spark is not None else spark_session(master, conf)
    with ctx as sp:
        sp.read.parquet(*files).select(*COLUMNS["events"]).createOrReplaceTempView("events")
        sp.createDataFrame(pd.DataFrame({"product_id": sorted(set(map(str, product_ids)))}),
                           "product_id string").createOrReplaceTempView("catalog")
        partials_df = sp.sql(STAGE1_SQL).cache()
        qmap = _query_map(partials_df.select("query").distinct().toArrow().column(0).to_pylist())
        sp.createDataFrame(qmap if len(qmap) else pd.DataFrame({"query": [""], "query_norm": [""]}),
                           "query string, query_norm string").createOrReplaceTempView("query_map")
        partials_df.createOrReplaceTempView("partials")
        pairs = _spark_to_pandas(sp.sql(stage2_sql(params)))
        summary = _spark_to_pandas(sp.sql(SUMMARY_SQL))
        partials_df.unpersist()
        sp.catalog.dropTempView("events")
    if pairs.empty:
        pairs = pd.DataFrame({c: pd.Series(dtype="float64") for c in PAIR_COLUMNS})
    return _finish(summary, pairs, "spark")


ON_UNKNOWN_IDS = ("reject", "drop")


def unknown_product_rows(events_path: str | Path, product_ids: Sequence[str], limit: int = 5,
                         con=None) -> tuple[int, pd.DataFrame]:
    """Events whose non-null ``product_id`` is not in the catalogue (referential integrity).

    Args:
        events_path: a Parquet file or a folder of them (as :func:`partitions`).
        product_ids: the catalogue's ids (compared as strings).
        limit: how many offending rows to return.

    Returns:
        ``(count, rows)``: the number of offending events and the first ``limit`` of them, in file order,
        as columns ``file`` (str), ``row`` (0-based row within the file, int64), ``product_id`` (str).
    """
    files = [f for g in partitions(events_path) for f in g]
    own = con is None
    con = con or duckdb_connect(threads=None, memory_limit=None)
    try:
        con.register("known_src", _catalog_table(product_ids))
        src = (f"SELECT filename AS file, file_row_number AS row, CAST(product_id AS VARCHAR) AS product_id "
               f"FROM read_parquet([{_sql_files(files)}], filename = true, file_row_number = true, hive_partitioning = false, "
               "union_by_name = true) WHERE product_id IS NOT NULL "
               "AND CAST(product_id AS VARCHAR) NOT IN (SELECT product_id FROM known_src)")
        n = int(con.sql(f"SELECT count(*) AS n FROM ({src})").to_df()["n"].iloc[0])
        rows = con.sql(f"SELECT * FROM ({src}) ORDER BY file, row LIMIT {int(limit)}").to_df()
        return n, rows.astype({"file": "str", "row": "int64", "product_id": "str"})
    finally:
        if own:
            con.close()


def mine_events(events_path: str | Path, product_ids: Sequence[str], params: MiningParams | None = None,
                engine: str = "duckdb", duckdb_options: Mapping[str, Any] | None = None,
                spark_options: Mapping[str, Any] | None = None, progress: bool = False,
                on_unknown_ids: str = "reject") -> MiningResult:
    """Mine pairs from a folder of events Parquet (``contract.COLUMNS['events']``).

    Args:
        events_path: a Parquet file, or a folder of them (``date=`` partitions hold whole sessions).
        product_ids: the catalogue.
        params: thresholds (:class:`MiningParams`).
        on_unknown_ids: events naming a (non-null) product id outside the catalogue break referential
            integrity: ``reject`` (default) raises once mining has counted them, naming the count and the
            first rows; ``drop`` drops and counts them as ``unknown_product`` in the report. Events with a
            null product id are always dropped and counted.
        engine: ``"duckdb"`` (embedded, out-of-core) or ``"spark"``.
        duckdb_options: ``threads``, ``memory_limit`` (e.g. ``"2GB"``), ``temp_directory``.
        spark_options: ``master`` (e.g. ``local[2]``, ``spark://host:7077``) and ``conf`` mapping.

    Returns:
        :class:`MiningResult` (pairs + report with dropped-row counts and wall time).

    Raises:
        FileNotFoundError: no Parquet under ``events_path``.
        ContractError: a file lacks a contract column (file and column named), or ``on_unknown_ids`` is
            ``reject`` and events name unknown products (count, file, row and id of the first five).
        ValueError: unknown engine or policy.
    """
    if on_unknown_ids not in ON_UNKNOWN_IDS:
        raise ValueError(f"on_unknown_ids must be one of {ON_UNKNOWN_IDS}, got {on_unknown_ids!r}")
    params = params or MiningParams()
    t0 = time.perf_counter()
    if engine == "duckdb":
        res = mine_duckdb(events_path, product_ids, params, progress=progress, **dict(duckdb_options or {}))
    elif engine == "spark":
        opts = dict(spark_options or {})
        res = mine_spark(events_path, product_ids, params, master=opts.get("master", "local[1]"),
                         conf=opts.get("conf"))
    else:
        raise ValueError(f"unknown engine {engine!r}; expected 'duckdb' or 'spark'")
    if on_unknown_ids == "reject" and res.report["dropped"]["unknown_product"]:
        n, rows = unknown_product_rows(events_path, product_ids)
        if n:
            lines = "\n".join(f"    file={r.file} row={r.row} column=product_id value={r.product_id!r}"
                               for r in rows.itertuples())
            failures = rows.assign(table="events", column="product_id", check="known_product_id")
            raise ContractError(
                f"{events_path}: referential integrity broken: {n} event(s) name a product_id that is not among "
                f"the catalogue's {len(set(map(str, product_ids)))} products (policy on_unknown_ids=reject; set "
                f"log_mining.mining.on_unknown_ids to 'drop' to drop and count them):\n{lines}",
                failures.rename(columns={"product_id": "value"}))
    res.report["on_unknown_ids"] = on_unknown_ids
    res.report["wall_s"] = round(time.perf_counter() - t0, 3)
    res.report["params"] = params.model_dump()
    return res


def env_threads() -> int:
    """Threads for the embedded engine: ``LOG_MINING_THREADS`` or the CPU count."""
    return int(os.environ.get("LOG_MINING_THREADS", os.cpu_count() or 1))
