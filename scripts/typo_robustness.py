"""Robustness to misspelt queries (run by hand; a few minutes once the catalogue embeddings are cached).

Every dev (and holdout) query with an alphabetic word of 4+ letters gets one keyboard typo
(:func:`discovery_pipelines.finetune.augment.typo_query`, seeded), as in the typo-robustness protocol of
Zhuang & Zuccon (ICTIR 2021) and Sidiropoulos & Kanoulas (SIGIR 2022). Each model is scored with dense
retrieval over the full Home Depot catalogue on the clean and on the misspelt queries; the drop is what
a user who mistypes loses.

    .venv/bin/python scripts/typo_robustness.py --models base=all-MiniLM-L6-v2,reference=data/06_models/reference,candidate=data/06_models/candidate

Figures go to ``results/finetune/typo_robustness.json`` (entries merged by model name) and a
bar plot of clean vs one-typo nDCG@10 / Recall@100 per model to ``typo_robustness.png`` beside it
(``--plot-only`` redraws it from the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import discovery_pipelines  # noqa: F401
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR
from discovery_pipelines.search.evaluation import evaluate
from discovery_pipelines.data.ingest import load_home_depot
from discovery_pipelines.data.io import write_figure, write_json
from discovery_pipelines.reporting.figures import metrics_bar_plot
from discovery_pipelines.finetune.augment import typo_query
from _project import provenance, project_splits

CACHE = DEFAULT_CACHE_DIR   # the one embedding cache (search.embeddings)


METRICS = ("clean_ndcg@10", "typo_ndcg@10", "clean_recall@100", "typo_recall@100")


def plot(results: dict, path: Path) -> None:
    """One panel per split, one bar per model for each of :data:`METRICS`."""
    splits = sorted({s for e in results["models"].values() for s in e if s != "model"})
    label = {m: m.replace("_", "\n", 1) for m in METRICS}          # "clean\nndcg@10": readable ticks
    by_split = {s: {name: {label[m]: e[s][m] for m in METRICS} for name, e in results["models"].items() if s in e}
                for s in splits}
    fig = metrics_bar_plot(by_split, list(label.values()))
    fig.suptitle("dense retrieval, full catalogue: clean vs one-typo queries")
    write_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", help="name=model,name=model ... (packaged name or folder)")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out and exit")
    ap.add_argument("--splits", default="dev,holdout")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=os.environ.get("DISCOVERY_DATA_ROOT", "../shared/datasets") + "/home_depot")
    ap.add_argument("--out", default="results/finetune/typo_robustness.json")
    a = ap.parse_args()
    out = Path(a.out)
    if a.plot_only:
        plot(json.loads(out.read_text()), out.with_suffix(".png"))
        return
    if not a.models:
        ap.error("--models is required (or --plot-only)")
    ds = load_home_depot(a.data)
    queries = project_splits(ds.queries)
    results = json.loads(out.read_text()) if out.exists() else {"models": {}}
    results["protocol"] = (f"one keyboard typo per query (seed {a.seed}); queries without an alphabetic word of "
                           "4+ letters keep their text; dense retrieval, full catalogue, nDCG@10")
    for spec in a.models.split(","):
        name, model = spec.split("=", 1)
        entry = {"model": model}
        for split in a.splits.split(","):
            q = queries[queries["split"] == split].reset_index(drop=True)
            rng = random.Random(a.seed)
            noisy = q.assign(text=[typo_query(t, rng) for t in q["text"]])
            qrels = ds.qrels[ds.qrels["query_id"].isin(set(q["query_id"]))]
            clean_m = evaluate(model, ds.products, q, qrels, retrievers=["dense"], cache_dir=CACHE).metrics["dense"]
            noisy_m = evaluate(model, ds.products, noisy, qrels, retrievers=["dense"], cache_dir=CACHE).metrics["dense"]
            entry[split] = {"clean_ndcg@10": clean_m["ndcg@10"], "typo_ndcg@10": noisy_m["ndcg@10"],
                            "drop": clean_m["ndcg@10"] - noisy_m["ndcg@10"],
                            "clean_recall@100": clean_m["recall@100"], "typo_recall@100": noisy_m["recall@100"],
                            "n_noised": int((noisy["text"] != q["text"]).sum()), "n_queries": int(len(q))}
        results["models"][name] = entry
        print(name, json.dumps(entry), flush=True)
        results["provenance"] = provenance()
        write_json(results, out)
    plot(results, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
