"""Full-catalogue variants of the candidate recipe, scored the way the regression gate scores them.

Reads what ``kedro run`` wrote (``data/03_primary`` tables and ``data/05_model_input/training_pairs.parquet``),
mines ``--negs`` positive-aware band negatives per anchor with the production model, trains one model per
``--seeds`` (several seeds are averaged into a uniform model soup, Wortsman et al. 2022), and scores each WiSE-FT
``--alphas`` interpolation with dense retrieval over the whole catalogue on dev and holdout. Per model it reports
nDCG@10 / Recall@100 and the gate's view: Good -> Not Good flips on the holdout queries that were Good under the
production model, and the same count on dev (a gate-free signal for choosing alpha).

    .venv/bin/python scripts/finetune_variants.py neg3_bs128 --negs 3 \
        --train '{"batch_size": 128, "learning_rate": 1.5e-4}' --alphas 0.5,0.6,0.7,1.0

``--data`` re-assembles the training pairs with other ``finetune.data`` budgets (e.g. all train qrels pairs),
``--soup-of`` averages models already trained (e.g. three seeds) instead of training.

Runs take ~6 min (12,500 pairs) or ~11 min (23,500) of training and ~1 min of encoding per alpha on 2 cores with bf16 (see docs/finetune.md).
Figures are merged into ``results/finetune/variants_full.json`` with a plot beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

import discovery_pipelines  # noqa: F401  (offline environment)
from discovery_pipelines.data.io import write_figure, write_json
from discovery_pipelines.pipelines.evaluate.nodes import evaluate_splits
from discovery_pipelines.pipelines.finetune.nodes import add_hard_negatives, assemble_training_pairs
from discovery_pipelines.search.precision import resolve_precision
from discovery_pipelines.finetune.gate import regression_gate
from discovery_pipelines.finetune.interpolate import interpolate_weights
from discovery_pipelines.finetune.trainer import TrainConfig, train
from _project import RESULTS, project_params, provenance

BASE = "all-MiniLM-L6-v2"
OUT = RESULTS / "finetune" / "variants_full.json"


def score(model, products, queries, qrels, eval_params: dict) -> tuple[pd.DataFrame, dict]:
    """Per-query dense results on dev + holdout (full catalogue) and ``{split: metrics}``: the evaluate
    pipeline's own node with the project's ``evaluate`` parameters (thresholds, Good rule, cache)."""
    pq, metrics = evaluate_splits(products, queries, qrels, {**eval_params, "model": model, "retrievers": ["dense"],
                                                             "splits": ["dev", "holdout"]})
    return pq, {split: m["dense"] for split, m in metrics["by_split"].items()}


def gate_view(base_pq: pd.DataFrame, pq: pd.DataFrame, gate: dict) -> dict:
    """The gate's checks on the holdout plus Good -> Not Good flips on dev."""
    g = regression_gate(base_pq, pq, min_dev_gain=float(gate["min_dev_gain"]), max_flips=int(gate["max_flips"]),
                        max_ndcg_loss=float(gate["max_ndcg_loss"]))
    key = ["split", "query_id"]
    b, c = base_pq.set_index(key), pq.set_index(key)
    c = c.loc[b.index]
    dev_good = (b.index.get_level_values("split") == "dev") & (b["verdict"] == "Good").to_numpy()
    return {"holdout_flips": g["checks"]["good_to_not_good_flips"]["value"],
            "holdout_good_ndcg_loss": g["checks"]["regression_ndcg_loss"]["value"], "gate_passed": g["passed"],
            "dev_flips": int((dev_good & (c["verdict"] == "Not Good").to_numpy()).sum()),
            "dev_good": int(dev_good.sum()), "holdout_good": g["regression_holdout"]["n_queries"]}


def soup(models: list[str]):
    """Uniform weight average of ``models`` (a running mean; Wortsman et al. 2022); one model is returned as is."""
    model = models[0]
    for i, m in enumerate(models[1:], start=2):
        model = interpolate_weights(model, m, 1.0 / i)
    return model


def plot(results: dict, path: Path) -> None:
    """Dev nDCG@10 against holdout Good -> Not Good flips, one point per model, the gate's limit dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, m in results["models"].items():
        if name == "base":
            continue
        x, y = m["holdout_flips"], m["dev"]["ndcg@10"]
        big = int(m.get("n_pairs") or 0) > 13500
        ax.scatter([x], [y], color="tab:gray" if name.startswith("reference") else "tab:green" if big else "tab:blue")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6)
    if results.get("max_flips") is not None:
        ax.axvline(results["max_flips"], color="tab:red", ls="--", lw=1, label="gate: max flips")
        ax.scatter([], [], color="tab:blue", label="12,500 training pairs")
        ax.scatter([], [], color="tab:green", label="23,500+ training pairs")
        ax.legend(fontsize=8)
    ax.set_xlabel("Good -> Not Good flips on the regression holdout")
    ax.set_ylabel("dev nDCG@10 (full catalogue)")
    ax.set_title("Candidate variants vs the regression gate (Home Depot, dense, full catalogue)", fontsize=9)
    ax.grid(alpha=0.3)
    write_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="label of the variant in the results")
    ap.add_argument("--negs", type=int, default=3, help="hard negatives per anchor")
    ap.add_argument("--train", default="{}", help="JSON overrides of the candidate's training parameters")
    ap.add_argument("--data", default="", help="JSON overrides of finetune.data: the pairs are re-assembled "
                    "(e.g. '{\"caps\": {\"qrels\": 22000}, \"max_pairs\": 24500}'); default: kedro run's pairs")
    ap.add_argument("--seeds", default="13", help="comma-separated seeds; more than one = uniform model soup")
    ap.add_argument("--alphas", default="0.6,0.7,1.0", help="WiSE-FT alphas scored")
    ap.add_argument("--reference", default="", help="also score this model folder (e.g. data/06_models/reference)")
    ap.add_argument("--soup-of", default="", help="comma-separated trained model folders to average instead of "
                    "training (e.g. data/06_models/variants/big22k-s13/final,...)")
    ap.add_argument("--plot-only", action="store_true")
    a = ap.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {"models": {}}
    if a.plot_only:
        plot(results, OUT.with_suffix(".png"))
        return
    project = project_params()
    params, eval_params = project["finetune"], project["evaluate"]
    products = pd.read_parquet("data/03_primary/products.parquet")
    queries = pd.read_parquet("data/03_primary/queries.parquet")
    qrels = pd.read_parquet("data/03_primary/qrels.parquet")
    pairs = pd.read_parquet("data/05_model_input/training_pairs.parquet")
    if a.data:
        pairs, pstats = assemble_training_pairs(
            products, queries, qrels, pd.read_parquet("data/04_feature/mined_positives.parquet"),
            pd.read_parquet("data/04_feature/synthetic_pairs.parquet"), {**params["data"], **json.loads(a.data)})
        print("re-assembled pairs:", pstats["kept"], flush=True)
    results.update(precision=resolve_precision(), max_flips=int(params["gate"]["max_flips"]))
    base_pq, base_m = score(BASE, products, queries, qrels, eval_params)
    results["models"]["base"] = {"dev": base_m["dev"], "holdout": base_m["holdout"], "holdout_flips": 0}

    def record(name: str, model, extra: dict) -> None:
        pq, m = score(model, products, queries, qrels, eval_params)
        results["models"][name] = {"dev": m["dev"], "holdout": m["holdout"], **gate_view(base_pq, pq, params["gate"]),
                                   **extra}
        r = results["models"][name]
        print(f"{name}: dev nDCG@10 {r['dev']['ndcg@10']:.4f} holdout {r['holdout']['ndcg@10']:.4f} "
              f"holdout flips {r['holdout_flips']} dev flips {r['dev_flips']}", flush=True)
        results["provenance"] = provenance()
        write_json(results, OUT)

    if a.reference:
        record("reference", a.reference, {})
    if a.soup_of:
        models = [m for m in a.soup_of.split(",") if m]
        # the rows each model was trained on (one epoch: every pair once), from its train_result.json
        n_pairs = json.loads((Path(models[0]).parent / "train_result.json").read_text())["examples"]
        extra = {"soup_of": a.soup_of, "n_pairs": int(n_pairs)}
    else:
        # the pipeline's own node, so the variants mine exactly as kedro run does (band, ceiling, fill, exclusions)
        examples, nstats = add_hard_negatives(pairs, products, queries, qrels,
                                              {**params["negatives"], "num_negatives": a.negs}, params["models"])
        cfg = {**params["candidate"]["train"], "num_negatives": a.negs, "early_stopping_patience": None,
               **json.loads(a.train)}
        models, secs = [], 0.0
        for seed in [int(s) for s in a.seeds.split(",")]:
            t = time.perf_counter()
            res = train(BASE, examples, Path("data/06_models/variants") / f"{a.name}-s{seed}",
                        TrainConfig.model_validate({**cfg, "seed": seed}), resume=False)
            secs += time.perf_counter() - t
            models.append(str(res.model_dir))
        extra = {"train_config": cfg, "seeds": a.seeds, "negatives": nstats, "train_seconds": secs,
                 "data": json.loads(a.data) if a.data else None, "n_pairs": int(len(pairs))}
    model = soup(models)
    for al in [float(x) for x in a.alphas.split(",") if x]:
        record(f"{a.name}@{al}", model if al >= 1 else interpolate_weights(BASE, model, al),
               {**extra, "wise_alpha": al})
    plot(results, OUT.with_suffix(".png"))


if __name__ == "__main__":
    main()
