"""Load test of the search service on loopback over the full Home Depot catalogue (54,667 products).

Levels, each measured with the same real Home Depot queries, one request at a time
(p50/p95/p99 latency, QPS = requests / wall time), then with concurrent clients for throughput:

1. bare faiss   ``IndexFlatIP.search`` of a pre-encoded query vector (in this process)
2. bare encode+faiss   query encoding + faiss search (in this process)
3. engine   ``SearchEngine.search`` in this process, per mode (dense, bm25, hybrid; rerank with ``--reranker``;
            ltr with ``--ltr``)
4. HTTP   ``GET /search`` against ``discovery serve`` in a child process (uvicorn, loopback), per mode

service overhead ratio = HTTP p50 / bare p50 (dense vs encode+faiss). Bounded: each measurement
stops at ``--requests`` requests or ``--max-seconds`` seconds, whichever first. The index is
exported with the base model all-MiniLM-L6-v2 (embedding cache reused when present).

    nice -n 10 .venv/bin/python scripts/benchmark_serve.py            # figures -> results/serve/
    .venv/bin/python scripts/benchmark_serve.py --requests 50 --max-seconds 10   # quick smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import discovery_pipelines  # noqa: E402,F401  (offline env)
from discovery_pipelines.data.io import write_json  # noqa: E402


def machine_load() -> dict:
    import psutil

    la = os.getloadavg()
    procs = []
    for p in psutil.process_iter(["pid", "name", "cpu_percent", "cmdline"]):
        procs.append(p)
    time.sleep(0.5)
    busy = []
    for p in procs:
        try:
            c = p.cpu_percent(None)
        except psutil.Error:
            continue
        if c > 20 and p.pid != os.getpid():
            busy.append({"pid": p.pid, "cpu_percent": round(c, 1),
                         "cmd": " ".join(p.info.get("cmdline") or [p.info.get("name") or ""])[:80]})
    return {"loadavg_1_5_15": [round(x, 2) for x in la], "cpu_count": os.cpu_count(),
            "cpu_percent_total": psutil.cpu_percent(interval=0.5), "busy_other_processes": busy}


def stats(lat_s: list[float], wall_s: float) -> dict:
    ms = np.asarray(lat_s) * 1000.0
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2),
            "qps": round(len(ms) / wall_s, 1) if wall_s > 0 else None}


def measure(fn: Callable[[str], object], queries: list[str], n: int, max_s: float, warmup: int = 5) -> dict:
    """Call ``fn(query)`` sequentially until ``n`` calls or ``max_s`` seconds."""
    for q in queries[:warmup]:
        fn(q)
    lat = []
    t_start = time.perf_counter()
    for i in range(n):
        q = queries[i % len(queries)]
        t0 = time.perf_counter()
        fn(q)
        lat.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > max_s:
            break
    return stats(lat, time.perf_counter() - t_start)


def measure_concurrent(make_fn: Callable[[], Callable[[str], object]], queries: list[str], n: int, max_s: float,
                       workers: int) -> dict:
    """``workers`` threads, each with its own client, sharing a budget of ``n`` calls / ``max_s`` s."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))
    t_start = time.perf_counter()

    def work() -> None:
        fn = make_fn()
        while time.perf_counter() - t_start < max_s:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                fn(queries[i % len(queries)])
            except Exception as e:  # noqa: BLE001  (counted, reported)
                errors.append(repr(e))
                continue
            with lock:
                lat.append(time.perf_counter() - t0)

    ths = [threading.Thread(target=work) for _ in range(workers)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    out = stats(lat, time.perf_counter() - t_start)
    out.update(workers=workers, errors=len(errors))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("DISCOVERY_DATA_ROOT", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--index-dir", default=str(ROOT / "data/07_model_output/serve_benchmark_index"))
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--requests", type=int, default=300, help="max requests per measurement")
    ap.add_argument("--max-seconds", type=float, default=45.0, help="max seconds per measurement")
    ap.add_argument("--concurrency", type=int, default=4, help="client threads for the throughput runs")
    ap.add_argument("--threads", type=int, default=1, help="torch/faiss threads (service and bare)")
    ap.add_argument("--out", default=str(ROOT / "results/serve/benchmark.json"))
    ap.add_argument("--reranker", default=None,
                    help="cross-encoder folder (e.g. data/06_models/teacher): export it and measure mode=rerank")
    ap.add_argument("--rerank-top-n", type=int, default=20, help="hybrid candidates the cross-encoder re-scores")
    ap.add_argument("--ltr", default=None,
                    help="LambdaMART model file (e.g. data/06_models/ltr/ranker.txt): export it and measure mode=ltr")
    ap.add_argument("--ltr-depth", type=int, default=50, help="hybrid candidates the ranker re-orders")
    args = ap.parse_args()

    import faiss
    import httpx
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    from discovery_pipelines.search.index import export_index, load_index, read_manifest
    from discovery_pipelines.search.embeddings import corpus_fingerprint, product_texts
    from discovery_pipelines.data.ingest import load_home_depot
    from discovery_pipelines.search.models import load_model, resolve_model_path
    from discovery_pipelines.serve.service import SearchEngine, SearchService

    load_before = machine_load()
    print("machine load:", load_before["loadavg_1_5_15"], flush=True)
    ds = load_home_depot(Path(args.data_root) / "home_depot")
    products = ds.products
    texts = product_texts(products)
    index_dir = Path(args.index_dir)
    fresh = True
    try:
        m, _ = read_manifest(index_dir)
        fresh = m.get("corpus_fingerprint") != corpus_fingerprint(texts) or (
            bool(args.reranker) != bool(m.get("reranker"))) or bool(args.ltr) != bool(m.get("ltr"))
    except Exception:  # noqa: BLE001
        pass
    t = time.perf_counter()
    if fresh:
        print(f"exporting {len(products):,} products with {args.model} -> {index_dir}", flush=True)
        export_index(index_dir, args.model, products, metadata={"purpose": "serve benchmark"},
                     reranker=args.reranker, rerank_top_n=args.rerank_top_n, ltr=args.ltr, ltr_depth=args.ltr_depth)
    export_s = time.perf_counter() - t
    queries = ds.queries["text"].sample(n=min(2000, len(ds.queries)), random_state=0).tolist()
    modes = ("dense", "bm25", "hybrid") + (("rerank",) if args.reranker else ()) + (("ltr",) if args.ltr else ())

    model_dir = resolve_model_path(args.model)
    t = time.perf_counter()
    li = load_index(index_dir)
    st = load_model(str(model_dir), device="cpu")
    from discovery_pipelines.search.models import model_fingerprint

    engine = SearchEngine(li, st, model_fingerprint(st), "cpu")
    load_s = time.perf_counter() - t
    print(f"index {li.index_id}: {len(li):,} vectors, engine ready in {load_s:.1f}s", flush=True)

    n, T = args.requests, args.max_seconds
    res: dict = {"bare": {}, "engine": {}, "http": {}, "http_concurrent": {}}
    qvecs = {q: engine.encode_query(q) for q in queries[: min(n + 5, len(queries))]}
    res["bare"]["faiss_flat_search_k10"] = measure(lambda q: li.index.search(qvecs[q], 10), list(qvecs), n, T)
    res["bare"]["encode_query"] = measure(engine.encode_query, queries, n, T)
    res["bare"]["encode_plus_faiss_k10"] = measure(lambda q: li.index.search(engine.encode_query(q), 10), queries, n, T)
    res["bare"]["bm25s_k10"] = measure(lambda q: engine.bm25.search([q], k=10), queries, n, T)
    print("bare:", {k: (v["p50_ms"], v["p99_ms"]) for k, v in res["bare"].items()}, flush=True)
    for mode in modes:
        res["engine"][mode] = measure(lambda q, m=mode: engine.search(q, k=10, mode=m), queries, n, T)
    print("engine:", {k: (v["p50_ms"], v["p99_ms"]) for k, v in res["engine"].items()}, flush=True)
    del engine, st, li, qvecs

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    log = open(Path(args.out).with_suffix(".server.log"), "w")
    srv = subprocess.Popen(
        [sys.executable, "-m", "discovery_pipelines.serve.cli", "serve", "--index", str(index_dir),
         "--model", str(model_dir), "--port", str(port), "--poll", "0", "--threads", str(args.threads),
         "--device", "cpu"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        t = time.perf_counter()
        while time.perf_counter() - t < 300:
            if srv.poll() is not None:
                raise RuntimeError(f"server exited with {srv.returncode}; see {log.name}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("server did not become healthy in 300 s")
        server_start_s = time.perf_counter() - t
        print(f"server up in {server_start_s:.1f}s on {base}", flush=True)
        server_took: dict[str, list[float]] = {}
        with httpx.Client(base_url=base, timeout=30) as c:
            for mode in modes:
                took = server_took.setdefault(mode, [])

                def call(q: str, m: str = mode, took: list = took) -> None:
                    r = c.get("/search", params={"q": q, "k": 10, "mode": m})
                    r.raise_for_status()
                    took.append(r.json()["took_ms"])

                res["http"][mode] = measure(call, queries, n, T)
                res["http"][mode]["server_engine_p50_ms"] = round(statistics.median(took), 2)
        print("http:", {k: (v["p50_ms"], v["p99_ms"], v["qps"]) for k, v in res["http"].items()}, flush=True)
        for mode in modes:
            def make(m: str = mode) -> Callable[[str], object]:
                c = httpx.Client(base_url=base, timeout=30)
                return lambda q: c.get("/search", params={"q": q, "k": 10, "mode": m}).raise_for_status()

            res["http_concurrent"][mode] = measure_concurrent(make, queries, n, T, args.concurrency)
        print("http concurrent:", {k: (v["qps"], v["errors"]) for k, v in res["http_concurrent"].items()}, flush=True)
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()

    bare = res["bare"]
    ratios = {
        "http_dense_p50_over_encode_plus_faiss_p50": round(res["http"]["dense"]["p50_ms"] / bare["encode_plus_faiss_k10"]["p50_ms"], 2),
        "http_dense_p50_over_faiss_search_p50": round(res["http"]["dense"]["p50_ms"] / bare["faiss_flat_search_k10"]["p50_ms"], 2),
        "engine_dense_p50_over_encode_plus_faiss_p50": round(res["engine"]["dense"]["p50_ms"] / bare["encode_plus_faiss_k10"]["p50_ms"], 2),
        "http_bm25_p50_over_bm25s_p50": round(res["http"]["bm25"]["p50_ms"] / bare["bm25s_k10"]["p50_ms"], 2),
        "http_minus_engine_dense_p50_ms": round(res["http"]["dense"]["p50_ms"] - res["engine"]["dense"]["p50_ms"], 2),
    }
    for mode in modes:  # same process, same moment: HTTP + JSON cost alone
        h = res["http"][mode]
        ratios[f"http_{mode}_p50_over_server_engine_p50"] = round(h["p50_ms"] / h["server_engine_p50_ms"], 2)
        ratios[f"http_{mode}_minus_server_engine_p50_ms"] = round(h["p50_ms"] - h["server_engine_p50_ms"], 2)
    out = {
        "what": "search service load test on loopback, Home Depot full catalogue, k=10",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "catalogue_products": len(products),
        "index": {"dir": str(index_dir), "factory": "Flat", "model": args.model, "exported_now": fresh,
                  "export_s": round(export_s, 1), "engine_load_s": round(load_s, 1)},
        "settings": {"requests_per_measurement": n, "max_seconds_per_measurement": T,
                     "concurrency": args.concurrency, "torch_faiss_threads": args.threads,
                     "distinct_queries": len(queries), "dense_backend_in_service": "torch-exact-cpu"},
        "results": res,
        "overhead_ratios": ratios,
        "note": "shared 2-core machine; see machine.load_*: torch on a busy core is 3-4x slower, so "
                "compare levels within one run, not across runs",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "faiss": faiss.__version__,
                    "load_before": load_before, "load_after": machine_load()},
    }
    write_json(out, args.out)
    plot(out, Path(args.out).with_suffix(".png"))
    print("ratios:", ratios)
    print("wrote", args.out)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("faiss search", out["results"]["bare"]["faiss_flat_search_k10"]),
            ("encode+faiss", out["results"]["bare"]["encode_plus_faiss_k10"]),
            ("bm25s", out["results"]["bare"]["bm25s_k10"])]
    rows += [(f"engine {m}", out["results"]["engine"][m]) for m in ("dense", "bm25", "hybrid")]
    rows += [(f"HTTP {m}", out["results"]["http"][m]) for m in ("dense", "bm25", "hybrid")]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r["p50_ms"] for _, r in rows], 0.4, label="p50")
    ax.barh(y + 0.2, [r["p99_ms"] for _, r in rows], 0.4, label="p99")
    ax.set_yticks(y, [n for n, _ in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency per query, ms (log)")
    la = out["machine"]["load_before"]["loadavg_1_5_15"][0]
    ax.set_title(f"Search latency, {out['catalogue_products']:,} products, one request at a time (load avg {la})")
    ax.legend()
    fig.tight_layout()
    from discovery_pipelines.data.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()
