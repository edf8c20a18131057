"""Benchmark log mining: the project's default engine vs one hand-written DuckDB query.

Simulates ``--events`` click-log events once (Home Depot, BM25 lists, position-based click model;
reused on later runs from ``--events-dir``), then mines them in two fresh child processes:

* ``pipeline``: :func:`discovery_pipelines.log_mining.mine_events` with the default engine (DuckDB,
  stage 1 partition by partition + stage 2), exactly what ``kedro run --pipeline=log_mining`` runs;
* ``hand_written``: :func:`discovery_pipelines.log_mining.mining.hand_written_duckdb_sql`, one DuckDB
  query over all files doing the same cleaning and aggregation.

Each child reports its wall time and peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which
includes DuckDB's native allocations); the parent checks that both produce the same pairs and writes
the figures, with the machine load, to ``results/log_mining/benchmark.json``.

Usage::

    nice -n 10 .venv/bin/python scripts/benchmark_log_mining.py --events 100000000
    nice -n 10 .venv/bin/python scripts/benchmark_log_mining.py --events 2000000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


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
            return {**m, "generated_now": False}
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
    return {**m, "generated_now": True, "bm25_lists_s": round(t1 - t0, 1), "simulate_s": round(t2 - t1, 1),
            "simulate_events_per_s": round(m["rows_written"] / (t2 - t1))}


def _child(args) -> None:
    """Mine in this (fresh) process and print one JSON line with figures."""
    import pandas as pd

    from discovery_pipelines.log_mining import MiningParams, mine_events
    from discovery_pipelines.log_mining.mining import duckdb_connect, hand_written_duckdb_sql

    pids = pd.read_parquet(args.products)["product_id"].astype(str).tolist()
    params = MiningParams()
    t0 = time.perf_counter()
    if args.child == "pipeline":
        res = mine_events(args.events_dir, pids, params, engine="duckdb",
                          duckdb_options={"threads": args.threads, "memory_limit": args.memory_limit,
                                          "temp_directory": str(Path(args.events_dir).parent / "duckdb_tmp")})
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
                      "pairs": int(len(pairs))}))


def _run_child(kind: str, args, result: Path) -> dict:
    import psutil

    cmd = [sys.executable, __file__, "--child", kind, "--events-dir", str(args.events_dir), "--products",
           str(args.products), "--result", str(result), "--threads", str(args.threads),
           "--memory-limit", args.memory_limit]
    print(f"mining with {kind} ...", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak, cpu = 0, []
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
            cpu.append(psutil.cpu_percent(interval=None))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out = proc.stdout.read()
    if proc.returncode:
        raise RuntimeError(f"{kind} child failed with code {proc.returncode}")
    fig = json.loads(out.strip().splitlines()[-1])
    fig["peak_rss_polled_mib"] = round(peak / 2**20, 1)
    fig["machine_cpu_percent_mean"] = round(sum(cpu) / len(cpu), 1) if cpu else None
    print(json.dumps(fig), flush=True)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000_000, help="clean events to simulate (default 100M)")
    ap.add_argument("--days", type=int, default=50, help="date partitions")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--events-dir", default=None, help="default data/02_intermediate/log_mining/bench_<N>/events")
    ap.add_argument("--products", default=str(ROOT / "data" / "03_primary" / "products.parquet"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for both runs")
    ap.add_argument("--out", default=str(ROOT / "results" / "log_mining" / "benchmark.json"))
    ap.add_argument("--child", choices=["pipeline", "hand_written"], help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.events_dir is None:
        args.events_dir = str(ROOT / "data" / "02_intermediate" / "log_mining" / f"bench_{args.events}" / "events")
    if args.child:
        _child(args)
        return

    import numpy as np
    import pandas as pd

    from discovery_pipelines.data.io import write_json

    if not Path(args.products).exists():  # the ingest pipeline's table, or straight from the adapter
        from discovery_pipelines.data.ingest import load_home_depot

        data_root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
        args.products = str(Path(tempfile.mkdtemp()) / "products.parquet")
        load_home_depot(data_root / "home_depot").products[["product_id"]].to_parquet(args.products)
    load_before = _load()
    gen = _generate(args)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = _run_child("pipeline", args, Path(tmp) / "pipeline.parquet")
        hand = _run_child("hand_written", args, Path(tmp) / "hand.parquet")
        a = pd.read_parquet(Path(tmp) / "pipeline.parquet").reset_index(drop=True)
        b = pd.read_parquet(Path(tmp) / "hand.parquet").reset_index(drop=True)
    cols = ["query_norm", "product_id", "impressions", "clicks", "carts", "purchases"]
    same = len(a) == len(b) and a[cols].astype(str).equals(b[cols].astype(str)) and bool(
        np.allclose(a["wilson_lb"], b["wilson_lb"], rtol=0, atol=1e-9, equal_nan=True))
    rows = pipe["input_rows"]
    for f in (pipe, hand):
        f["events_per_s"] = round(rows / f["wall_s"])
    result = {
        "events": rows, "clean_events": gen["clean_events"], "partitions": args.days,
        "events_dir": str(args.events_dir), "on_disk_mib": round(sum(p.stat().st_size for p in
                                                                     Path(args.events_dir).rglob("*.parquet")) / 2**20, 1),
        "generation": {k: gen.get(k) for k in ("generated_now", "bm25_lists_s", "simulate_s", "simulate_events_per_s")},
        "pipeline_default_engine": pipe, "hand_written_duckdb": hand,
        "speed_ratio_pipeline_vs_hand_written": round(hand["wall_s"] / pipe["wall_s"], 3),
        "results_identical": bool(same), "target": {"speed_ratio_min": 0.8, "peak_rss_max_gib": 4},
        "threads": args.threads, "duckdb_memory_limit": args.memory_limit,
        "machine": {"before": load_before, "after": _load(), "platform": platform.platform(),
                    "python": platform.python_version(), "note": "shared 2-core machine; see loadavg"},
    }
    import duckdb

    result["duckdb_version"] = duckdb.__version__
    write_json(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
