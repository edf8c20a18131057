"""Time a ``kedro run`` and record its figures in the tracked ``results/`` folder.

A run writes its reports to ``data/08_reporting/`` (git-ignored: a run never dirties a clone). The figures the
README and ``docs/`` cite are copied from there by this script into ``results/<pipeline>/<name>/``, next to a
``run.json`` with the command, machine (CPU model, AMX or not), date, load average, wall time, peak RSS and
the stage cache's decision for every node (``data/.stage_cache/last_run.json``).

Run from the project root::

    nice -n 10 .venv/bin/python scripts/record_run.py                   # kedro run (finetune), then record
    .venv/bin/python scripts/record_run.py --no-run                     # record what the last run wrote
    .venv/bin/python scripts/record_run.py --pipeline finetune --env ci --name ci_run
    .venv/bin/python scripts/record_run.py --pipeline multimodal            # its whole report folder
    .venv/bin/python scripts/record_run.py --pipeline personalization --name instacart_run \
        --params personalization.dataset=instacart_histories
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _project import RESULTS, ROOT, provenance

#: Reports larger than this are not copied into the tracked results folder.
MAX_REPORT_BYTES = 5 * 2**20

# The reports a default run's figures come from (relative to data/08_reporting/); for another
# ``--pipeline`` every file of its ``data/08_reporting/<pipeline>/`` folder is recorded.
REPORTS = (
    "finetune/metrics.json", "finetune/gate.json", "finetune/report.md", "finetune/comparison.png",
    "finetune/candidate_summary.json", "finetune/reference_summary.json", "finetune/training_pair_stats.json",
    "finetune/hard_negative_stats.json", "finetune/interpolation_stats.json", "finetune/augmentation_stats.json",
    "evaluate/metrics.json", "evaluate/report.md", "evaluate/metrics.png",
    "log_mining/report.json", "log_mining/report.md", "log_mining/pr_curve.png",
    "failure_analysis/failure_groups.md", "failure_analysis/failure_groups.json", "failure_analysis/not_good_rate.png",
    "synthetic/synthetic.json", "synthetic/synthetic.md", "synthetic/acceptance.png",
    "quality/metrics.json", "quality/report.md", "quality/comparison.png", "quality/teacher_summary.json",
    "distill/label_expansion_stats.json", "distill/student_example_stats.json", "distill/student_summary.json",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", default="finetune")
    ap.add_argument("--env", default=None, help="Kedro environment (default: base + local)")
    ap.add_argument("--name", default="default_run", help="folder under results/<pipeline>/")
    ap.add_argument("--no-run", action="store_true", help="only record the reports of the last run")
    ap.add_argument("--params", default=None, help="runtime parameters passed to kedro run --params "
                    "(e.g. personalization.dataset=instacart_histories)")
    a = ap.parse_args()
    os.chdir(ROOT)
    out = RESULTS / a.pipeline / a.name
    record = provenance()
    if not a.no_run:
        cmd = [str(Path(sys.executable).with_name("kedro")), "run", f"--pipeline={a.pipeline}"]
        if a.env:
            cmd.append(f"--env={a.env}")
        if a.params:
            cmd += ["--params", a.params]
        t = time.perf_counter()
        proc = subprocess.run(cmd, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
        record["run"] = {"command": " ".join(cmd[1:]), "returncode": proc.returncode,
                         "wall_s": round(time.perf_counter() - t, 1),
                         "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
                         "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
        if proc.returncode:
            sys.exit(f"kedro run failed ({proc.returncode}); nothing recorded")
    last = ROOT / "data" / ".stage_cache" / "last_run.json"
    if last.exists():
        record["stage_cache"] = json.loads(last.read_text())
    copied = []
    rep = ROOT / "data" / "08_reporting"
    wanted = REPORTS if a.pipeline == "finetune" else sorted(   # other pipelines: their whole report folder
        str(f.relative_to(rep)) for f in (rep / a.pipeline).rglob("*")
        if f.is_file() and f.stat().st_size <= MAX_REPORT_BYTES)
    for rel in wanted:
        src = ROOT / "data" / "08_reporting" / rel
        if src.exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / rel)
            copied.append(rel)
    record["reports"] = copied
    (out / "run.json").write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"recorded {len(copied)} reports in {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
