"""The issue's sanity anchors: every baseline of the personalization pipeline on one dataset's test
baskets (households with >= 3 baskets, last basket test), written to ``results/personalization/``.

Same code as ``kedro run --pipeline=personalization`` (adapter, split, baselines, evaluation), without the
two-tower / ranker stages, so it finishes in minutes on 2 cores.
Usage: ``.venv/bin/python scripts/personalization_baselines.py [--dataset completejourney]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from threadpoolctl import threadpool_limits  # noqa: E402

from discovery_pipelines.data.ingest.completejourney import load_completejourney  # noqa: E402
from discovery_pipelines.data.ingest.instacart_histories import load_instacart_histories  # noqa: E402
from discovery_pipelines.personalization import baselines as bl  # noqa: E402
from discovery_pipelines.personalization.evaluation import evaluate_model, item_prices  # noqa: E402
from discovery_pipelines.personalization.split import split_last_baskets, stage_data  # noqa: E402
from discovery_pipelines.reporting.figures import markdown_table  # noqa: E402

COLS = ["model", "all_ndcg@10", "all_recall@20", "all_hit@10", "repeat_ndcg@10", "explore_recall@20", "coverage@10",
        "fit_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="completejourney", choices=["completejourney", "instacart_histories"])
    ap.add_argument("--data-root", default=os.environ.get("DISCOVERY_DATA_ROOT", str(ROOT.parent / "shared" / "datasets")))
    a = ap.parse_args()
    t0 = time.perf_counter()
    load = load_completejourney if a.dataset == "completejourney" else load_instacart_histories
    h = load(Path(a.data_root) / a.dataset)
    lines, users = split_last_baskets(h.lines, 3)
    sd = stage_data(lines, "test")
    price, disc = item_prices(sd.history, sd.n_items)
    rows = []
    for name, cls in bl.BASELINES.items():
        t = time.perf_counter()
        with threadpool_limits(1):
            m = cls().fit(sd)
            items, _ = bl.top_k(m.score, sd.users, 100)
        s, _ = evaluate_model(items, sd, price, disc)
        rows.append({"model": name, **s, "fit_s": round(time.perf_counter() - t, 1)})
        print(name, {k: round(v, 4) for k, v in s.items() if k in COLS}, flush=True)
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    meta = {"command": f"python scripts/personalization_baselines.py --dataset {a.dataset}",
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu,
            "amx": "amx_tile" in lscpu, "load_avg_end": os.getloadavg(), "seconds": round(time.perf_counter() - t0, 1),
            "users": users["status"].value_counts().to_dict(), "ingest_decisions": h.decisions}
    out = ROOT / "results" / "personalization"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"baselines_{a.dataset}.json").write_text(json.dumps({"meta": meta, "test": rows}, indent=2, default=float))
    md = (f"# Baselines on {a.dataset} test baskets ({sd.users.size} users)\n\n`{meta['command']}`, {cpu} "
          f"(AMX {meta['amx']}), {meta['date_utc']}, load average at end {meta['load_avg_end'][0]:.1f}, "
          f"{meta['seconds']} s\n\n" + markdown_table(rows, COLS) + "\n")
    (out / f"baselines_{a.dataset}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
