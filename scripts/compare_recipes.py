"""Compare fine-tuning recipes on the Home Depot dev split (run by hand; tens of minutes on 2 cores).

Each recipe is trained from all-MiniLM-L6-v2 and scored with dense retrieval on the dev split against a
proxy catalogue (every dev-judged product plus random others up to ``--catalogue`` products; 0 = the
full catalogue). Besides nDCG@10 / Recall@100 it reports what the regression gate looks at, on the dev
queries that are Good (nDCG@10 >= 0.5) under the base model: their mean nDCG@10 loss and the number of
Good -> Not Good flips. ``--alphas`` adds WiSE-FT interpolations of each trained recipe.

    .venv/bin/python scripts/compare_recipes.py --recipes reference,pairs_rr,hn_rr --alphas 0.7

Figures go to ``results/finetune/recipes_proxy.json`` (one entry per model, merged with earlier runs).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

import discovery_pipelines  # noqa: F401
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR
from discovery_pipelines.search.evaluation import evaluate
from discovery_pipelines.data.ingest import load_home_depot
from discovery_pipelines.data.io import write_json
from discovery_pipelines.data.splits import judged_and_sampled
from discovery_pipelines.finetune.data import assemble_pairs, known_positives
from discovery_pipelines.finetune.interpolate import interpolate_weights
from discovery_pipelines.finetune.negatives import mine_band_negatives
from discovery_pipelines.finetune.trainer import TrainConfig, train
from _project import project_splits, provenance

CACHE = DEFAULT_CACHE_DIR   # the one embedding cache (search.embeddings)
BASE = "all-MiniLM-L6-v2"
REF_TRAIN = dict(loss="mnrl", batch_size=64, learning_rate=3e-5, epochs=1, batch_sampler="batch_sampler",
                 num_negatives=0, max_seq_length=None, early_stopping_patience=None)
REF_DATA = dict(qrels_min_gain=2.5, max_pairs=12000, qrels_sampling="random", synthetic=0)
RR_DATA = dict(qrels_min_gain=2.0, qrels_sampling="round_robin", synthetic=1500)
GTE = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
FAST = dict(REF_TRAIN, batch_sampler="no_duplicates", learning_rate=1e-4, max_seq_length=32)
RECIPES = {
    # the plain recipe: 12k random train qrels >= 2.5, in-batch negatives, lr 3e-5
    "reference": (REF_DATA, REF_TRAIN, None),
    # 14k round-robin qrels >= 2.0 + 2k synthetic, pairs only, lr 1e-4, training truncation 32 tokens
    "pairs_rr": (dict(RR_DATA, qrels=14000, synthetic=2000), FAST, None),
    # 11k round-robin qrels + 1.5k synthetic, one positive-aware band negative each
    "hn_rr": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1), dict(max_relative=0.95)),
    "hn_rr_lr2": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1, learning_rate=2e-4), dict(max_relative=0.95)),
    # hn_rr with the GTE improved contrastive loss (Li et al. 2023): one softmax over query->doc, doc->query,
    # query->query and doc->doc in-batch terms; no extra encoding
    "hn_rr_gte": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1, directions=GTE), dict(max_relative=0.95)),
    # hn_rr with EmbeddingGemma's hardness weighting of the explicit negatives (Schechter Vera et al. 2025, alpha 5)
    "hn_rr_hard5": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1, hardness_mode="hard_negatives",
                                                     hardness_strength=5.0), dict(max_relative=0.95)),
    # both of the above
    "hn_rr_gte_hard5": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1, directions=GTE,
                                                         hardness_mode="hard_negatives", hardness_strength=5.0),
                        dict(max_relative=0.95)),
    # hn_rr with hardness weighting of in-batch negatives (Lan et al. 2025, alpha 9)
    "hn_rr_ibhard": (dict(RR_DATA, qrels=11000), dict(FAST, num_negatives=1, hardness_mode="in_batch_negatives",
                                                      hardness_strength=9.0), dict(max_relative=0.95)),
}


def plot(results: dict, path: Path) -> None:
    """Scatter of dev nDCG@10 against Good -> Not Good flips, one labelled point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from discovery_pipelines.data.io import write_figure

    fig, ax = plt.subplots(figsize=(8, 5))
    base = results["models"].get("base", {}).get("dev", {}).get("ndcg@10")
    for name, m in results["models"].items():
        if name == "base":   # plotted as a note: it would squash the axis
            continue
        x, y = m["good_flips"], m["dev"]["ndcg@10"]
        ax.scatter([x], [y], color="tab:orange" if "wise" in name else "tab:blue")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel(f"Good -> Not Good flips (of {next(iter(results['models'].values()))['good_queries']} Good dev queries)")
    ax.set_ylabel("dev nDCG@10")
    ax.set_title(f"Recipes on the dev split, {results['catalogue_size']:,}-product proxy catalogue "
                 f"(orange: WiSE-FT; base nDCG@10 {base:.4f})" if base is not None else "Recipes on the dev split",
                 fontsize=9)
    ax.grid(alpha=0.3)
    write_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipes", default="reference,hn_rr")
    ap.add_argument("--alphas", default="", help="WiSE-FT alphas to score for every recipe, e.g. 0.5,0.7")
    ap.add_argument("--catalogue", type=int, default=12000, help="0 = full catalogue")
    ap.add_argument("--data", default=os.environ.get("DISCOVERY_DATA_ROOT", "../shared/datasets") + "/home_depot")
    ap.add_argument("--synthetic", default="data/04_feature/synthetic_pairs.parquet",
                    help="accepted synthetic pairs from the synthetic pipeline (skipped if missing)")
    ap.add_argument("--out", default="results/finetune/recipes_proxy.json")
    ap.add_argument("--work", default="data/06_models/recipes")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out and exit")
    ap.add_argument("--alphas-only", action="store_true",
                    help="do not train: score --alphas of each recipe's model already in --work")
    a = ap.parse_args()
    out = Path(a.out)
    if a.plot_only:
        plot(json.loads(out.read_text()), out.with_suffix(".png"))
        return
    ds = load_home_depot(a.data)
    queries = project_splits(ds.queries)
    products, qrels = ds.products, ds.qrels
    dev = queries[queries["split"] == "dev"]
    dev_qrels = qrels[qrels["query_id"].isin(set(dev["query_id"]))]
    cat = products
    if a.catalogue:
        judged = set(dev_qrels["product_id"])
        cat = judged_and_sampled(products, judged, a.catalogue - int(products["product_id"].isin(judged).sum()))
    synthetic = pd.read_parquet(a.synthetic) if Path(a.synthetic).exists() else None
    results = json.loads(out.read_text()) if out.exists() else {}
    if results.get("catalogue_size") != len(cat):
        results = {"catalogue_size": len(cat), "models": {}}
    results.setdefault("models", {})

    def score(model) -> tuple[pd.Series, dict]:
        r = evaluate(model, cat, dev, dev_qrels, retrievers=["dense"], cache_dir=CACHE, show_progress=False)
        return r.per_query.set_index("query_id")["ndcg@10"], r.metrics["dense"]

    base_pq, base_m = score(BASE)
    good = base_pq[base_pq >= 0.5]

    def record(name: str, model, extra: dict) -> None:
        pq, m = score(model)
        g = pq[good.index]
        results["models"][name] = {"dev": m, "good_queries": int(len(good)),
                                   "good_ndcg_loss": float(good.mean() - g.mean()), "good_flips": int((g < 0.5).sum()),
                                   **extra}
        print(name, json.dumps({k: v for k, v in results["models"][name].items() if k != "config"}), flush=True)
        results["provenance"] = provenance()
        write_json(results, out)

    record("base", BASE, {})
    alphas = [float(x) for x in a.alphas.split(",") if x]

    def record_alphas(name: str, model_dir: str) -> None:
        for al in alphas:
            record(f"{name}+wise{al}", interpolate_weights(BASE, model_dir, al), {"wise_alpha": al})

    for name in a.recipes.split(","):
        if a.alphas_only:
            record_alphas(name, str(Path(a.work) / name / "final"))
            continue
        data_cfg, train_cfg, neg_cfg = RECIPES[name]
        caps = {"qrels": data_cfg.get("qrels"), "synthetic": data_cfg.get("synthetic", 0)}
        pairs, stats = assemble_pairs(products, queries, qrels, None, synthetic if caps["synthetic"] else None,
                                      qrels_min_gain=data_cfg["qrels_min_gain"], caps=caps,
                                      max_pairs=data_cfg.get("max_pairs"), qrels_sampling=data_cfg["qrels_sampling"])
        cfg = TrainConfig.model_validate(train_cfg)
        nstats = None
        if cfg.num_negatives:
            exclude = known_positives(qrels, queries, pairs, 2.0)
            pairs, nstats = mine_band_negatives(BASE, pairs, products, exclude, num_negatives=cfg.num_negatives,
                                                cache_dir=CACHE, fill_random=True, **neg_cfg)
        t = time.perf_counter()
        res = train(BASE, pairs, Path(a.work) / name, cfg, resume=False)
        extra = {"train_seconds": res.train_seconds, "examples": res.examples,
                 "examples_per_second": res.examples_per_second, "pairs": stats["kept"],
                 "queries": stats["n_queries"], "negatives": nstats, "config": train_cfg,
                 "wall_seconds": time.perf_counter() - t}
        record(name, str(res.model_dir), extra)
        record_alphas(name, str(res.model_dir))
    plot(results, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
