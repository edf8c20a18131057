"""Benchmark log mining: DuckDB partition-wise (the pipeline) vs one hand-written DuckDB query vs Spark local.

Simulates ``--events`` click-log events once (Home Depot, BM25 lists, position-based click model;
reused on later runs from ``--events-dir``), then mines them in fresh child processes:

* ``pipeline``: :func:`discovery_pipelines.log_mining.mine_events` with the default engine (DuckDB,
  stage 1 partition by partition + stage 2), exactly what ``kedro run --pipeline=log_mining`` runs;
* ``hand_written``: :func:`hand_written_duckdb_sql` below, one DuckDB query over all files doing the
  same cleaning and aggregation (the baseline lives here, not in the package);
* ``spark``: the same two stages on Spark SQL, ``local[threads]`` (``engine="spark"``).

Each child reports its wall time and peak RSS (``resource.getrusage``: RUSAGE_SELF includes DuckDB's
native allocations; the parent also polls the RSS of the child and all its descendants, which is what
counts for Spark's JVM). The parent checks that every engine produces the same pairs and writes the
figures, with the command, machine (CPU model, AMX or not), date and load average, after each engine, to
``data/08_reporting/log_mining/benchmark.json`` and to ``--results`` (tracked, default
``results/log_mining/benchmark.json``).

Usage::

    nice -n 19 .venv/bin/python scripts/benchmark_log_mining.py --events 100000000
    nice -n 19 .venv/bin/python scripts/benchmark_log_mining.py --events 2000000 --results ''   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "scripts"))

from _project import provenance  # noqa: E402
from discovery_pipelines.data.contract import EVENT_TYPES  # noqa: E402

ENGINES = ("pipeline", "hand_written", "spark")


def hand_written_duckdb_sql(glob_pattern: str, params) -> str:
    """A single hand-written DuckDB query doing the same cleaning and aggregation over the whole log
    (normalisation in SQL: lower-case + whitespace collapse, equal to :func:`text.normalize_query`
    on NFKC-stable text): the speed baseline the pipeline's engine is measured against. ``params`` is a
    :class:`discovery_pipelines.log_mining.MiningParams`.
    Expects a ``catalog(product_id)`` table."""
    z, thr = float(params.z), float(params.positive_threshold)
    return f"""
    WITH ev AS (
      SELECT DISTINCT session_id, timestamp AS ts, query, product_id, position, event_type
      FROM read_parquet('{glob_pattern}', hive_partitioning = false)
      WHERE query IS NOT NULL AND trim(query) <> '' AND position >= 1
        AND event_type IN ({', '.join(repr(t) for t in EVENT_TYPES)}) AND session_id IS NOT NULL AND timestamp IS NOT NULL
        AND product_id IN (SELECT product_id FROM catalog)
    ),
    seq AS (
      SELECT *, min(ts) FILTER (WHERE event_type = 'impression')
                  OVER (PARTITION BY session_id, query, product_id) AS first_imp
      FROM ev
    ),
    agg AS (
      SELECT trim(regexp_replace(lower(query), '\\s+', ' ', 'g')) AS query_norm, min(query) AS query, product_id,
        count(*) FILTER (WHERE event_type = 'impression') AS impressions,
        count(*) FILTER (WHERE event_type = 'click') AS clicks,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        sum(position) FILTER (WHERE event_type = 'impression') AS position_sum
      FROM seq
      WHERE event_type = 'impression' OR ts >= first_imp
      GROUP BY 1, 3
    )
    SELECT query_norm, query, product_id, impressions, clicks, carts, purchases,
      clicks / impressions AS ctr,
      (least(clicks, impressions) / impressions + {z}*{z} / (2 * impressions)
        - {z} * sqrt((least(clicks, impressions) / impressions) * (1 - least(clicks, impressions) / impressions)
                     / impressions + {z}*{z} / (4 * impressions * impressions)))
        / (1 + {z}*{z} / impressions) AS wilson_lb,
      position_sum / impressions AS mean_position
    FROM agg WHERE impressions > 0 AND query_norm <> ''
    """


def _load() -> dict:
    import psutil

    la = os.getloadavg()
    return {"loadavg_1_5_15": [round(x, 2) for x in la], "cpu_count": os.cpu_count(),
            "cpu_percent_1s": psutil.cpu_percent(interval=1.0),
            "mem_available_gib": round(psutil.virtual_memory().available / 2**30, 2)}


def _generate(args) -> dict:
    from discovery_pipelines.data.ingest import load_home_depot
    from discovery_pipelines.log_mining import ClickModel, ranked_lists, simulate_events

    manifest_path = Path(args.events_dir) / "_manifest.json"
    if manifest_path.exists():
        m = json.loads(manifest_path.read_text())
        if m.get("clean_events", 0) >= args.events and m.get("seed") == args.seed and m.get("n_days") == args.days:
            print(f"reusing {m['rows_written']:,} events in {args.events_dir}", flush=True)
            return {**m, **m.get("benchmark_generation", {}), "generated_now": False}
    data_root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
    ds = load_home_depot(data_root / "home_depot")
    t0 = time.perf_counter()
    lists = ranked_lists(ds.products, ds.queries, ds.qrels, k=10)
    t1 = time.perf_counter()
    corruption = {"unknown_product": 0.0005, "null_query": 0.0002, "empty_query": 0.0002,
                  "negative_position": 0.0005, "duplicate": 0.001, "out_of_order": 0.0005}
    m = simulate_events(lists, args.events_dir, n_events=args.events, model=ClickModel(), seed=args.seed,
                        n_days=args.days, chunk_events=2_000_000, corruption=corruption)
    t2 = time.perf_counter()
    print(f"generated {m['rows_written']:,} events in {t2 - t1:.0f} s (BM25 lists {t1 - t0:.0f} s)", flush=True)
    timing = {"bm25_lists_s": round(t1 - t0, 1), "simulate_s": round(t2 - t1, 1),
              "simulate_events_per_s": round(m["rows_written"] / (t2 - t1)),
              "generation_loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    manifest_path.write_text(json.dumps({**m, "benchmark_generation": timing}, indent=2, default=str))
    return {**m, "generated_now": True, **timing}


def _child(args) -> None:
    """Mine in this (fresh) process and print one JSON line with figures."""
    import pandas as pd

    from discovery_pipelines.log_mining import MiningParams, mine_events
    from discovery_pipelines.log_mining.mining import duckdb_connect

    pids = pd.read_parquet(args.products)["product_id"].astype(str).tolist()
    params = MiningParams()
    t0 = time.perf_counter()
    if args.child == "pipeline":
        res = mine_events(args.events_dir, pids, params, engine="duckdb", on_unknown_ids="drop",
                          duckdb_options={"threads": args.threads, "memory_limit": args.memory_limit,
                                          "temp_directory": str(Path(args.events_dir).parent / "duckdb_tmp")})
        pairs, rows = res.pairs, res.report["input_rows"]
    elif args.child == "spark":
        tmp = Path(args.events_dir).parent / "spark_tmp"
        res = mine_events(args.events_dir, pids, params, engine="spark", on_unknown_ids="drop", spark_options={
            "master": f"local[{args.threads}]",
            "conf": {"spark.driver.memory": args.spark_driver_memory, "spark.local.dir": str(tmp),
                     "spark.sql.shuffle.partitions": str(max(4, 4 * args.threads))}})
        pairs, rows = res.pairs, res.report["input_rows"]
    else:
        import pyarrow as pa

        con = duckdb_connect(threads=args.threads, memory_limit=args.memory_limit,
                             temp_directory=str(Path(args.events_dir).parent / "duckdb_tmp"))
        con.register("catalog_src", pa.table({"product_id": pa.array(sorted(set(pids)), pa.string())}))
        con.execute("CREATE TEMP TABLE catalog AS SELECT product_id FROM catalog_src")
        pairs = con.sql(hand_written_duckdb_sql(str(Path(args.events_dir) / "**" / "*.parquet"), params)
                        ).to_arrow_table().to_pandas()
        rows = None
    wall = time.perf_counter() - t0
    pairs.sort_values(["query_norm", "product_id"]).to_parquet(args.result)
    print(json.dumps({"engine": args.child, "wall_s": round(wall, 3), "input_rows": rows,
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "peak_rss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                      "pairs": int(len(pairs))}))


def _run_child(kind: str, args, result: Path) -> dict:
    import psutil

    cmd = [sys.executable, __file__, "--child", kind, "--events-dir", str(args.events_dir), "--products",
           str(args.products), "--result", str(result), "--threads", str(args.threads),
           "--memory-limit", args.memory_limit, "--spark-driver-memory", args.spark_driver_memory]
    print(f"mining with {kind} ...", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak, cpu = 0, []
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
            cpu.append(psutil.cpu_percent(interval=None))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out = proc.stdout.read()
    if proc.returncode:
        raise RuntimeError(f"{kind} child failed with code {proc.returncode}")
    fig = json.loads(out.strip().splitlines()[-1])
    fig["peak_rss_polled_mib"] = round(peak / 2**20, 1)  # the child and its descendants (Spark's JVM)
    fig["machine_cpu_percent_mean"] = round(sum(cpu) / len(cpu), 1) if cpu else None
    print(json.dumps(fig), flush=True)
    return fig


def _same(a, b) -> bool:
    import numpy as np

    cols = ["query_norm", "product_id", "impressions", "clicks", "carts", "purchases"]
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    return len(a) == len(b) and a[cols].astype(str).equals(b[cols].astype(str)) and bool(
        np.allclose(a["wilson_lb"].astype(float), b["wilson_lb"].astype(float), rtol=0, atol=1e-9, equal_nan=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000_000, help="clean events to simulate (default 100M)")
    ap.add_argument("--days", type=int, default=50, help="date partitions")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--events-dir", default=None, help="default data/02_intermediate/log_mining/bench_<N>/events")
    ap.add_argument("--products", default=str(ROOT / "data" / "03_primary" / "products.parquet"))
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {ENGINES}")
    ap.add_argument("--partitions", type=int, default=None,
                    help="mine only the first N date partitions of the generated log (hard links in a "
                         "sibling folder); default all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for both DuckDB runs")
    ap.add_argument("--spark-driver-memory", default="4g", help="spark.driver.memory (local mode: the whole JVM)")
    ap.add_argument("--out", default=str(ROOT / "data" / "08_reporting" / "log_mining" / "benchmark.json"))
    ap.add_argument("--results", default=str(ROOT / "results" / "log_mining" / "benchmark.json"),
                    help="tracked copy of the figures ('' for none)")
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.events_dir is None:
        args.events_dir = str(ROOT / "data" / "02_intermediate" / "log_mining" / f"bench_{args.events}" / "events")
    if args.child:
        _child(args)
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(f"unknown engines {unknown}; choose from {ENGINES}")

    import duckdb
    import pandas as pd
    import pyspark

    from discovery_pipelines.data.io import write_json

    if not Path(args.products).exists():  # the ingest pipeline's table, or straight from the adapter
        from discovery_pipelines.data.ingest import load_home_depot

        data_root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
        args.products = str(Path(tempfile.mkdtemp()) / "products.parquet")
        load_home_depot(data_root / "home_depot").products[["product_id"]].to_parquet(args.products)
    prov = provenance()
    result = {
        "command": f"nice -n {os.nice(0)} {prov['command']}", "date_utc": prov["date_utc"],
        "machine": {**prov["machine"], "before": _load(),
                    "note": "load averages before and after: the machine is shared; a quiet machine reads about 1 before"},
        "versions": {"duckdb": duckdb.__version__, "pyspark": pyspark.__version__},
        "threads": args.threads, "duckdb_memory_limit": args.memory_limit,
        "spark_driver_memory": args.spark_driver_memory,
    }
    gen = _generate(args)
    generated_dir = Path(args.events_dir)
    if args.partitions:
        parts = sorted(p for p in generated_dir.iterdir() if p.is_dir() and p.name.startswith("date="))
        subset = generated_dir.parent / f"events_first_{args.partitions}_partitions"
        shutil.rmtree(subset, ignore_errors=True)
        for part in parts[:args.partitions]:
            (subset / part.name).mkdir(parents=True)
            for f in part.glob("*.parquet"):
                os.link(f, subset / part.name / f.name)
        args.events_dir = str(subset)
    result.update({
        "events": None, "generated_events": gen["rows_written"], "generated_clean_events": gen["clean_events"],
        "generated_partitions": args.days, "partitions_mined": args.partitions or args.days,
        "events_dir": str(args.events_dir), "on_disk_mib": round(sum(
            p.stat().st_size for p in Path(args.events_dir).rglob("*.parquet")) / 2**20, 1),
        "generation": {k: gen.get(k) for k in ("generated_now", "bm25_lists_s", "simulate_s", "simulate_events_per_s",
                                                "generation_loadavg_after")},
        "engines": {},
    })
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for kind in engines:
            fig = _run_child(kind, args, Path(tmp) / f"{kind}.parquet")
            fig["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            rows = fig["input_rows"] or result["events"]
            result["events"] = result["events"] or fig["input_rows"]
            if rows:
                fig["events_per_s"] = round(rows / fig["wall_s"])
            pairs = pd.read_parquet(Path(tmp) / f"{kind}.parquet")
            if first is None:
                first = (kind, pairs)
            else:
                fig[f"same_pairs_as_{first[0]}"] = _same(first[1], pairs)
            result["engines"][kind] = fig
            walls = {k: v["wall_s"] for k, v in result["engines"].items()}
            if "pipeline" in walls:
                result["speedup_of_pipeline"] = {k: round(w / walls["pipeline"], 3) for k, w in walls.items()}
            result["machine"]["after"] = _load()
            for out in filter(None, [args.out, args.results]):
                write_json(result, out)  # after every engine: a run cut short still leaves its figures
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
