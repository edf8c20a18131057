"""Quality benchmark of the served search modes on Home Depot: BM25, base dense, tuned hybrid fusions and
cross-encoder re-ranking (the teacher trained here on train-split qrels), dev and holdout, with paired
bootstrap CIs; writes ``results/quality/benchmark.json`` with the command, machine, load and date.

The same functions as the ``quality`` stage of ``kedro run`` (:mod:`discovery_pipelines.quality.compare`,
:mod:`discovery_pipelines.finetune.teacher`). ``--distractors 0`` ranks the whole 54,667-product catalogue;
a positive value ranks a slice (the sampled queries' judged products + that many random others), for a
shared machine where encoding the catalogue does not fit.

    .venv/bin/python scripts/benchmark_quality.py --dev 250 --holdout 250 --distractors 2500 --teacher-budget 600
    .venv/bin/python scripts/benchmark_quality.py --dev 0 --holdout 0 --distractors 0     # full catalogue
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import discovery_pipelines  # noqa: E402,F401  (offline env)
import pandas as pd  # noqa: E402
from _project import project_splits, sample_split  # noqa: E402

from discovery_pipelines.data.ingest import load_home_depot  # noqa: E402
from discovery_pipelines.data.io import write_json  # noqa: E402
from discovery_pipelines.finetune.budget import choose_precision, cpu_features  # noqa: E402
from discovery_pipelines.finetune.teacher import (  # noqa: E402
    TeacherConfig, probe_seconds_per_step, teacher_examples, train_teacher)
from discovery_pipelines.quality import compare as C  # noqa: E402
from discovery_pipelines.search.embeddings import product_texts  # noqa: E402
from discovery_pipelines.search.fusion import FusionConfig  # noqa: E402
from discovery_pipelines.search.rerank import load_cross_encoder  # noqa: E402
from discovery_pipelines.search.retrieval import BM25Retriever, run_to_dict  # noqa: E402

log = logging.getLogger("benchmark_quality")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("DISCOVERY_DATA_ROOT", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--dev", type=int, default=250, help="dev queries sampled (0 = all)")
    ap.add_argument("--holdout", type=int, default=250, help="holdout queries sampled (0 = all)")
    ap.add_argument("--train", type=int, default=0, help="train queries for the teacher (0 = all)")
    ap.add_argument("--distractors", type=int, default=2500, help="random non-judged products (0 = full catalogue)")
    ap.add_argument("--teacher-budget", type=float, default=600.0,
                    help="teacher training seconds (0 = no teacher: BM25, dense and fusions only)")
    ap.add_argument("--top-n", type=int, default=20, help="hybrid candidates the cross-encoder re-ranks")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--work", default=str(ROOT / "data/06_models/benchmark_quality"))
    ap.add_argument("--out", default=str(ROOT / "results/quality/benchmark.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    t_start = time.perf_counter()
    load_start = os.getloadavg()

    ds = load_home_depot(Path(args.data_root) / "home_depot")
    queries = project_splits(ds.queries)
    products, qrels = ds.products, ds.qrels
    judged_q = queries[queries["query_id"].isin(set(qrels["query_id"]))]
    ev_q = pd.concat([sample_split(judged_q, "dev", args.dev, args.seed), sample_split(judged_q, "holdout", args.holdout, args.seed)])
    tr_q = sample_split(judged_q, "train", args.train, args.seed)
    if args.distractors > 0:
        judged = set(qrels[qrels["query_id"].isin(set(ev_q["query_id"]))]["product_id"])
        others = products[~products["product_id"].isin(judged)].sample(n=args.distractors, random_state=args.seed)
        catalogue = pd.concat([products[products["product_id"].isin(judged)], others]).reset_index(drop=True)
    else:
        catalogue = products
    log.info("catalogue %d products, %d eval queries, %d train queries", len(catalogue), len(ev_q), len(tr_q))
    timings: dict[str, float] = {}

    t = time.perf_counter()
    splits = C.first_stage_runs(catalogue, ev_q, qrels, {"base": "all-MiniLM-L6-v2"})
    timings["first_stage_s"] = time.perf_counter() - t
    fusion = C.add_fusions(splits, "base")
    log.info("fusion chosen on dev: %s", fusion["label"])

    teacher_rec: dict = {"skipped": True}
    latency_ce, speed = None, {}
    if args.teacher_budget > 0:
        # teacher: train queries x BM25 candidates over the full catalogue (train split only)
        t = time.perf_counter()
        cfg = TeacherConfig(budget_seconds=args.teacher_budget, seed=args.seed)
        bm_full = BM25Retriever(product_texts(products), products["product_id"].tolist())
        cands = run_to_dict(tr_q["query_id"].tolist(), bm_full.search(tr_q["text"].tolist(), k=cfg.candidates))
        ex = teacher_examples(tr_q, qrels, products, cands, cfg)
        prec = choose_precision("auto", lambda p: probe_seconds_per_step("all-MiniLM-L6-v2", ex, cfg, p), "teacher")
        cfg.precision = prec["precision"]
        res = train_teacher("all-MiniLM-L6-v2", ex, Path(args.work) / "teacher", cfg,
                            seconds_per_step=prec["seconds_per_step"])
        timings["teacher_s"] = time.perf_counter() - t
        latency_ce = load_cross_encoder(res.model_dir)
        doc_text = dict(zip(catalogue["product_id"], product_texts(catalogue)))
        t = time.perf_counter()
        agreement = C.teacher_agreement(latency_ce, splits["dev"], doc_text, rel_threshold=2.0,
                                        candidates=splits["dev"].runs["hybrid:base"], top_n=min(10, args.top_n),
                                        precision=cfg.precision)
        timings["agreement_s"] = time.perf_counter() - t
        t = time.perf_counter()
        speed, rerank_choice = C.add_rerank(splits, "base", latency_ce, doc_text, top_n=args.top_n,
                                            precision=cfg.precision, first_stage_weights=(0.0, 0.25, 0.5, 0.75))
        timings["rerank_s"] = time.perf_counter() - t
        teacher_rec = {"summary": res.summary(), "precision_choice": prec,
                       "examples": ex["source"].value_counts().to_dict(), "agreement_dev": agreement,
                       "rerank": rerank_choice}
    per_q, table = C.score_systems(splits, rel_threshold=2.0, baselines=("bm25", "hybrid_rrf60:base"))
    latency = C.mode_latency(catalogue, splits["dev"].texts[:30], "all-MiniLM-L6-v2", latency_ce,
                             FusionConfig.from_dict(fusion["config"]), top_n=args.top_n)

    out = {
        "command": "python " + " ".join(sys.argv),
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_features(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_1_5_15_start": [round(x, 2) for x in load_start],
                    "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()]},
        "setup": {"catalogue_products": int(len(catalogue)), "full_catalogue": args.distractors <= 0,
                  "queries": {s: len(sr.query_ids) for s, sr in splits.items()}, "train_queries": int(len(tr_q)),
                  "top_n": args.top_n},
        "fusion": fusion, "teacher": teacher_rec,
        "rerank_pairs_per_second": speed, "latency_ms_in_process": latency,
        "metrics": table, "timings_s": {**timings, "total_s": time.perf_counter() - t_start},
    }
    write_json(out, args.out)
    for split in table:
        for name, row in table[split].items():
            print(f"{split:8s} {name:28s} nDCG@10 {row['ndcg@10']:.4f}  R@100 {row['recall@100']:.4f}  "
                  f"vs bm25 {row.get('vs_bm25', {}).get('mean', 0):+.4f}")
    print(json.dumps({"teacher": teacher_rec.get("agreement_dev"), "latency": latency}, indent=1))


if __name__ == "__main__":
    main()
