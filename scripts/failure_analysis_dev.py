"""Failure analysis + synthetic pairs on the real Home Depot dev split, outside Kedro.

Evaluates the base model (dense, full catalogue; catalogue embeddings come from the on-disk cache),
runs the ``failure_analysis`` and ``synthetic`` nodes with ``conf/base`` parameters, and times the rules
generator. Tables and reports go to ``--out`` (default ``data/08_reporting/dev_run/``, untracked), never to the
pipeline's own datasets, so running it does not invalidate the stage cache of ``kedro run``; the figures (timings,
counts, dev metrics, with command, machine, date and load) to ``--results`` (``results/synthetic/dev_run.json``).
Run: ``nice -n 10 .venv/bin/python scripts/failure_analysis_dev.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from discovery_pipelines.search.evaluation import evaluate  # noqa: E402
from discovery_pipelines.data.ingest import load_home_depot  # noqa: E402
from discovery_pipelines.data.io import write_figure, write_json, write_parquet, write_text  # noqa: E402
from discovery_pipelines.pipelines.failure_analysis.nodes import build_failure_groups  # noqa: E402
from discovery_pipelines.pipelines.synthetic import nodes as sn  # noqa: E402
from discovery_pipelines.data.splits import subset  # noqa: E402
from _project import RESULTS, project_params, project_splits, provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/08_reporting/dev_run", help="folder for every output of this script")
    ap.add_argument("--results", default=str(RESULTS / "synthetic" / "dev_run.json"), help="the figures (tracked)")
    a = ap.parse_args()
    os.chdir(ROOT)
    out_dir = Path(a.out)
    params = project_params()
    root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
    ds = load_home_depot(root / "home_depot")
    queries = project_splits(ds.queries, params)
    dq, dr = subset(queries, ds.qrels, "dev")
    t = time.perf_counter()
    res = evaluate("all-MiniLM-L6-v2", ds.products, dq, dr, retrievers=("dense",))
    eval_s = time.perf_counter() - t
    per_query = res.per_query.merge(queries[["query_id", "split"]], on="query_id", how="left")
    print("dense dev metrics", res.metrics, f"({eval_s:.1f} s)")
    t = time.perf_counter()
    groups, stats, fa_md, fa_json, fa_fig = build_failure_groups(per_query, queries, ds.qrels, ds.products,
                                                                  params["failure_analysis"])
    fa_s = time.perf_counter() - t
    write_parquet(groups, out_dir / "failure_groups.parquet")
    write_parquet(stats, out_dir / "failure_group_stats.parquet")
    sp = params["synthetic"]
    budget = sn.plan_budget(stats, ds.products, sp)
    raw, gstats = sn.generate_pairs(budget, groups, ds.products, ds.qrels, sp)
    t = time.perf_counter()
    final, qc, syn_md, syn_json, syn_fig = sn.quality_control_pairs(raw, ds.products, queries, budget, gstats, sp)
    qc_s = time.perf_counter() - t
    write_parquet(final, out_dir / "synthetic_pairs.parquet")
    write_parquet(qc, out_dir / "synthetic_qc.parquet")
    for sub, (md, js, fig, stem, png) in {
        "failure_analysis": (fa_md, fa_json, fa_fig, "failure_groups", "not_good_rate.png"),
        "synthetic": (syn_md, syn_json, syn_fig, "synthetic", "acceptance.png"),
    }.items():
        write_text(md, out_dir / sub / f"{stem}.md")
        write_json(js, out_dir / sub / f"{stem}.json")
        write_figure(fig, out_dir / sub / png)
    out = {"eval_s": eval_s, "failure_analysis_s": fa_s, "qc_s": qc_s, "dev_metrics": res.metrics,
           "n_generated": len(raw), "n_accepted": int(qc["accepted"].sum()), "n_final": len(final),
           "rules_seconds_per_1000_pairs": gstats["seconds_per_1000_pairs"], "plan_s": gstats["plan_s"],
           "provenance": provenance()}
    write_json(out, a.results)
    print(out)


if __name__ == "__main__":
    main()
