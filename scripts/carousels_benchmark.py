"""Run ``kedro run --pipeline=carousels`` on one dataset (cold or cached) and keep its figures in the
tracked ``results/carousels/`` folder with the command, machine, load average and date.

    .venv/bin/python scripts/carousels_benchmark.py --dataset completejourney
    .venv/bin/python scripts/carousels_benchmark.py --dataset instacart_histories --extra "carousels.profiles.max_users=200"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="completejourney", choices=["completejourney", "instacart_histories"])
    ap.add_argument("--extra", default="", help="extra --params for kedro run")
    ap.add_argument("--tag", default="default")
    a = ap.parse_args()
    env = {**os.environ, "DISCOVERY_CAROUSELS_DATASET": a.dataset, "KEDRO_DISABLE_TELEMETRY": "true",
           "PYTHONPATH": str(ROOT / "src")}
    cmd = [str(ROOT / ".venv" / "bin" / "kedro"), "run", "--pipeline=carousels"] + (["--params", a.extra] if a.extra else [])
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    metrics = json.loads((ROOT / "data" / "08_reporting" / "carousels" / a.dataset / "metrics.json").read_text())
    last = json.loads((ROOT / "data" / ".stage_cache" / "last_run.json").read_text())
    cpu = subprocess.run(["bash", "-c", "lscpu | grep 'Model name' | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    meta = {"command": f"DISCOVERY_CAROUSELS_DATASET={a.dataset} " + " ".join(cmd[1:]), "wall_s": round(wall, 1),
            "stage_cache": last.get("counts"), "node_seconds": {n["node"]: n["seconds"] for n in last.get("nodes", [])},
            "machine": cpu, "amx": "amx" in Path("/proc/cpuinfo").read_text(), "cores": os.cpu_count(),
            "load_average_before": load0, "load_average_after": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out = ROOT / "results" / "carousels"
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    from discovery_pipelines.data.io import write_json

    write_json({"meta": meta, "metrics": metrics}, out / f"{a.dataset}_{a.tag}.json")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
