"""Compare fine-tuning recipes at the same data budget, on the Home Depot dev split.

Trains each recipe from all-MiniLM-L6-v2 on the same train-split data budget and scores every model
(plus the base) with dense retrieval over a catalogue (full by default, ``--catalogue N`` for a
faster proxy: dev-judged products + random others). Figures go to
``data/08_reporting/finetune/recipes.json``. Run by hand (tens of minutes on 2 cores):

    .venv/bin/python scripts/compare_recipes.py --recipes reference,band,judged_band
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

import discovery_pipelines  # noqa: F401
from discovery_pipelines.evaluation import evaluate
from discovery_pipelines.ingest import load_home_depot
from discovery_pipelines.io import write_json
from discovery_pipelines.splits import assign_splits
from discovery_pipelines.training.data import assemble_pairs, known_positives
from discovery_pipelines.training.negatives import judged_negatives, mine_band_negatives
from discovery_pipelines.training.trainer import TrainConfig, train

CACHE = "data/07_model_output/embedding_cache"
BASE = "all-MiniLM-L6-v2"
REF = dict(loss="mnrl", batch_size=64, learning_rate=3e-5, epochs=1, batch_sampler="batch_sampler",
           num_negatives=0, max_seq_length=None, early_stopping_patience=None)
RECIPES = {
    "reference": dict(REF),
    "nodup_lr5": dict(REF, batch_sampler="no_duplicates", learning_rate=5e-5, max_seq_length=48),
    "band": dict(REF, batch_sampler="no_duplicates", learning_rate=5e-5, max_seq_length=48, num_negatives=1),
    "judged_band": dict(REF, batch_sampler="no_duplicates", learning_rate=5e-5, max_seq_length=48, num_negatives=1),
    "judged_band_lr3": dict(REF, batch_sampler="no_duplicates", learning_rate=3e-5, max_seq_length=48, num_negatives=1),
    "judged_band_sym": dict(REF, loss="mnrl_symmetric", batch_sampler="no_duplicates", learning_rate=5e-5,
                            max_seq_length=48, num_negatives=1),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipes", default="reference,band,judged_band")
    ap.add_argument("--max-pairs", type=int, default=12000)
    ap.add_argument("--catalogue", type=int, default=0, help="0 = full catalogue")
    ap.add_argument("--data", default=os.environ.get("DISCOVERY_DATA_ROOT", "../shared/datasets") + "/home_depot")
    ap.add_argument("--out", default="data/08_reporting/finetune/recipes.json")
    ap.add_argument("--work", default="data/06_models/recipes")
    a = ap.parse_args()
    ds = load_home_depot(a.data)
    queries = assign_splits(ds.queries, {"train": 0.7, "dev": 0.15, "holdout": 0.15})
    products, qrels = ds.products, ds.qrels
    dev = queries[queries["split"] == "dev"]
    dev_qrels = qrels[qrels["query_id"].isin(set(dev["query_id"]))]
    cat = products
    if a.catalogue:
        judged = products[products["product_id"].isin(set(dev_qrels["product_id"]))]
        rest = products[~products["product_id"].isin(set(judged["product_id"]))]
        cat = pd.concat([judged, rest.sample(n=max(0, a.catalogue - len(judged)), random_state=0)]).reset_index(drop=True)
    pairs, stats = assemble_pairs(products, queries, qrels, None, None, qrels_min_gain=2.5, max_pairs=a.max_pairs)
    exclude = known_positives(qrels, queries, pairs, 2.0)
    results = {"catalogue_size": len(cat), "pairs": stats, "recipes": {}}
    out = Path(a.out)
    if out.exists():
        results["recipes"] = json.loads(out.read_text()).get("recipes", {})
    t = time.perf_counter()
    results["recipes"]["base"] = {"dev": evaluate(BASE, cat, dev, dev_qrels, retrievers=["dense"], cache_dir=CACHE).metrics["dense"]}
    print("base", results["recipes"]["base"], time.perf_counter() - t, flush=True)
    for name in a.recipes.split(","):
        cfg = TrainConfig.from_dict(RECIPES[name])
        data = pairs
        if cfg.num_negatives:
            pref = judged_negatives(qrels, queries, 1.67) if name.startswith("judged") else None
            data, nstats = mine_band_negatives(BASE, pairs, products, exclude, num_negatives=cfg.num_negatives,
                                               cache_dir=CACHE, preferred=pref)
            print(name, nstats, flush=True)
        res = train(BASE, data, Path(a.work) / name, cfg, resume=False)
        m = evaluate(res.model_dir, cat, dev, dev_qrels, retrievers=["dense"], cache_dir=CACHE).metrics["dense"]
        results["recipes"][name] = {"dev": m, "train_seconds": res.train_seconds, "examples": res.examples,
                                    "examples_per_second": res.examples_per_second, "config": RECIPES[name]}
        print(name, m, res.train_seconds, flush=True)
        write_json(results, out)
    write_json(results, out)


if __name__ == "__main__":
    main()
