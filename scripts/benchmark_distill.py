"""Slice A/B of the distilled student at a fixed number of steps: the initial dense model vs the student trained
on the ensemble teacher's scores, dense and hybrid (fusion tuned on dev), dev and holdout nDCG@10 / Recall@100
with paired bootstrap CIs against BM25 and against the initial model; writes ``results/quality/<out>.json``
with the command, machine, load and date.

The same functions as the ``distill`` stage of ``kedro run`` (:mod:`discovery_pipelines.finetune.distill`,
:func:`discovery_pipelines.finetune.trainer.train`, :mod:`discovery_pipelines.quality.compare`). Without a
cross-encoder (``--teacher`` not given) the ensemble is its hybrid half alone (``ce_weight`` 0: the student
learns BM25 + dense evidence; human soft labels still replace the teacher's on judged pairs only when
``ce_weight`` > 0). Fixed ``--steps`` (not a time budget), so that a loaded machine changes the wall time,
not the result.

    .venv/bin/python scripts/benchmark_distill.py --dev 200 --holdout 200 --train 600 --distractors 2000 --steps 60
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import discovery_pipelines  # noqa: E402,F401  (offline env)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _project import ROOT, RESULTS, project_splits, provenance, sample_split  # noqa: E402

from discovery_pipelines.data.io import write_json  # noqa: E402
from discovery_pipelines.data.ingest import load_home_depot  # noqa: E402
from discovery_pipelines.finetune.distill import ensemble_scores, hybrid_candidates, student_examples  # noqa: E402
from discovery_pipelines.finetune.trainer import TrainConfig, train  # noqa: E402
from discovery_pipelines.quality import compare as C  # noqa: E402
from discovery_pipelines.search.embeddings import product_texts  # noqa: E402
from discovery_pipelines.search.evaluation import dense_run  # noqa: E402
from discovery_pipelines.search.retrieval import BM25Retriever  # noqa: E402

log = logging.getLogger("benchmark_distill")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.environ.get("DISCOVERY_DATA_ROOT", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--init", default="all-MiniLM-L6-v2", help="the student's initial model (name or folder)")
    ap.add_argument("--teacher", default=None, help="cross-encoder folder (default: none, ce_weight 0)")
    ap.add_argument("--ce-weight", type=float, default=0.0)
    ap.add_argument("--dev", type=int, default=200)
    ap.add_argument("--holdout", type=int, default=200)
    ap.add_argument("--train", type=int, default=600, help="train queries labelled for the student")
    ap.add_argument("--distractors", type=int, default=2000)
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--loss", default="distill_kl", choices=["distill_kl", "margin_mse"])
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--work", default=str(ROOT / "data/06_models/benchmark_distill"))
    ap.add_argument("--out", default="benchmark_distill_slice")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    record = provenance()
    t0 = time.perf_counter()

    ds = load_home_depot(Path(args.data_root) / "home_depot")
    queries, products, qrels = project_splits(ds.queries), ds.products, ds.qrels
    judged_q = queries[queries["query_id"].isin(set(qrels["query_id"]))]
    ev_q = pd.concat([sample_split(judged_q, "dev", args.dev, args.seed), sample_split(judged_q, "holdout", args.holdout, args.seed)])
    tr_q = sample_split(judged_q, "train", args.train, args.seed)
    judged = set(qrels[qrels["query_id"].isin(set(ev_q["query_id"]) | set(tr_q["query_id"]))]["product_id"])
    others = products[~products["product_id"].isin(judged)].sample(n=args.distractors, random_state=args.seed)
    catalogue = pd.concat([products[products["product_id"].isin(judged)], others]).reset_index(drop=True)
    log.info("catalogue %d products, %d eval / %d train queries", len(catalogue), len(ev_q), len(tr_q))

    # label expansion on the train queries: hybrid (BM25 + init dense) top-k + judged products, ensemble scores
    texts = product_texts(catalogue)
    doc_text = dict(zip(catalogue["product_id"].astype(str), texts))
    qids = tr_q["query_id"].astype(str).tolist()
    bm25 = BM25Retriever(texts, catalogue["product_id"].tolist()).search(tr_q["text"].tolist(), k=50)
    dense = dense_run(args.init, catalogue, tr_q, k=50, show_progress=False)
    hyb = hybrid_candidates(qids, bm25, dense, alpha=0.5, top_k=args.top_k)
    mg = float(qrels["gain"].max())
    r = qrels[qrels["query_id"].isin(set(qids))]
    human = {(a, b): g / mg for a, b, g in zip(r["query_id"].astype(str), r["product_id"].astype(str), r["gain"])}
    text = dict(zip(qids, tr_q["text"].astype(str)))
    rows = [(q, text[q], p, s) for q in qids for p, s in hyb[q]]
    seen = {(q, p) for q, _, p, _ in rows}
    rows += [(q, text[q], p, 0.0) for (q, p) in human if (q, p) not in seen and p in doc_text]
    labels = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "hybrid_score"])
    labels["human_label"] = [human.get(k, np.nan) for k in zip(labels["query_id"], labels["product_id"])]
    logits = np.zeros(len(labels))
    if args.teacher:
        from discovery_pipelines.search.rerank import score_pairs

        logits = score_pairs(args.teacher, labels["query"].tolist(), [doc_text[p] for p in labels["product_id"]])
    labels["teacher_score"] = ensemble_scores(logits, labels["hybrid_score"], labels["human_label"],
                                              ce_weight=args.ce_weight)
    ex = student_examples(labels, doc_text, negatives=4, positives_per_query=2, min_positive_label=0.66, seed=args.seed)
    cfg = TrainConfig(loss=args.loss, batch_size=32, num_negatives=4, max_steps=args.steps, learning_rate=args.lr,
                      batch_sampler="batch_sampler", max_seq_length=32, early_stopping_patience=None,
                      precision="auto", seed=args.seed, teacher_temperature=0.1)
    t = time.perf_counter()
    res = train(args.init, ex, Path(args.work) / f"{args.out}", cfg, resume=False)
    train_s = time.perf_counter() - t

    splits = C.first_stage_runs(catalogue, ev_q, qrels, {"init": args.init, "student": str(res.model_dir)})
    fusion = {m: C.add_fusions(splits, m) for m in ("init", "student")}
    _, table = C.score_systems(splits, rel_threshold=2.0, baselines=("bm25", "dense:init", "hybrid:init"))
    record.update({
        "setup": {"catalogue_products": int(len(catalogue)), "eval_queries": {s: len(sr.query_ids) for s, sr in splits.items()},
                  "train_queries": len(qids), "student_rows": int(len(ex)), "labelled_pairs": int(len(labels)),
                  "args": vars(args), "train": cfg.model_dump()},
        "fusion": {m: f["label"] for m, f in fusion.items()},
        "train_seconds": train_s, "metrics": table, "total_s": time.perf_counter() - t0,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    })
    write_json(record, RESULTS / "quality" / f"{args.out}.json")
    for split in table:
        for name, row in table[split].items():
            print(f"{split:8s} {name:24s} nDCG@10 {row['ndcg@10']:.4f}  R@100 {row['recall@100']:.4f}  "
                  f"vs bm25 {row.get('vs_bm25', {}).get('mean', 0):+.4f}  vs init {row.get('vs_dense:init', {}).get('mean', 0):+.4f}")


if __name__ == "__main__":
    main()
