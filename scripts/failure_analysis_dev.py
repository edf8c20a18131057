"""Failure analysis + synthetic pairs on the real Home Depot dev split, outside Kedro.

Evaluates the base model (dense, full catalogue; catalogue embeddings come from the on-disk cache),
runs the ``failure_analysis`` and ``synthetic`` nodes with ``conf/base`` parameters, writes the reports
to ``data/08_reporting/{failure_analysis,synthetic}/`` and the pairs to ``data/04_feature/``, and times
the rules generator. Run: ``nice -n 10 .venv/bin/python scripts/failure_analysis_dev.py``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from kedro.config import OmegaConfigLoader  # noqa: E402

from discovery_pipelines.evaluation import evaluate  # noqa: E402
from discovery_pipelines.ingest import load_home_depot  # noqa: E402
from discovery_pipelines.io import write_json, write_parquet  # noqa: E402
from discovery_pipelines.pipelines.failure_analysis.nodes import build_failure_groups  # noqa: E402
from discovery_pipelines.pipelines.synthetic import nodes as sn  # noqa: E402
from discovery_pipelines.settings import CONFIG_LOADER_ARGS  # noqa: E402
from discovery_pipelines.splits import assign_splits, subset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.chdir(ROOT)
    params = OmegaConfigLoader("conf", **CONFIG_LOADER_ARGS)["parameters"]
    root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
    ds = load_home_depot(root / "home_depot")
    fr = (params.get("ingest") or {}).get("split_fractions") or {"train": 0.7, "dev": 0.15, "holdout": 0.15}
    queries = assign_splits(ds.queries, dict(fr))
    dq, dr = subset(queries, ds.qrels, "dev")
    t = time.perf_counter()
    res = evaluate("all-MiniLM-L6-v2", ds.products, dq, dr, retrievers=("dense",))
    eval_s = time.perf_counter() - t
    per_query = res.per_query.merge(queries[["query_id", "split"]], on="query_id", how="left")
    print("dense dev metrics", res.metrics, f"({eval_s:.1f} s)")
    t = time.perf_counter()
    groups, stats = build_failure_groups(per_query, queries, ds.qrels, ds.products, dict(params["failure_analysis"]))
    fa_s = time.perf_counter() - t
    write_parquet(groups, "data/07_model_output/failure_groups.parquet")
    write_parquet(stats, "data/08_reporting/failure_analysis/failure_group_stats.parquet")
    sp = dict(params["synthetic"])
    budget = sn.plan_budget(stats, ds.products, sp)
    raw, gstats = sn.generate_pairs(budget, groups, ds.products, ds.qrels, sp)
    t = time.perf_counter()
    final, qc = sn.quality_control_pairs(raw, ds.products, queries, budget, gstats, sp)
    qc_s = time.perf_counter() - t
    write_parquet(final, "data/04_feature/synthetic_pairs.parquet")
    write_parquet(qc, "data/08_reporting/synthetic/synthetic_qc.parquet")
    out = {"eval_s": eval_s, "failure_analysis_s": fa_s, "qc_s": qc_s, "dev_metrics": res.metrics,
           "n_generated": len(raw), "n_accepted": int(qc["accepted"].sum()), "n_final": len(final),
           "rules_seconds_per_1000_pairs": gstats["seconds_per_1000_pairs"], "plan_s": gstats["plan_s"],
           "load_1min": os.getloadavg()[0]}
    write_json(out, "data/08_reporting/synthetic/dev_run.json")
    print(out)


if __name__ == "__main__":
    main()
