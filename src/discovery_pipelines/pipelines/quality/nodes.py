"""Nodes of the ``quality`` stage (logic in :mod:`discovery_pipelines.quality.compare`,
:mod:`discovery_pipelines.finetune.teacher`, :mod:`discovery_pipelines.search.fusion` / ``rerank``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from discovery_pipelines.finetune.budget import choose_precision  # noqa: E402
from discovery_pipelines.finetune.teacher import (  # noqa: E402
    TeacherConfig, expand_labels, probe_seconds_per_step, teacher_examples, train_teacher)
from discovery_pipelines.quality import compare as C  # noqa: E402
from discovery_pipelines.quality.params import parse  # noqa: E402
from discovery_pipelines.reporting import tracking  # noqa: E402
from discovery_pipelines.reporting.figures import markdown_table, ndcg_ci_plot  # noqa: E402
from discovery_pipelines.search.embeddings import product_texts  # noqa: E402
from discovery_pipelines.search.fusion import FusionConfig, default_grid  # noqa: E402
from discovery_pipelines.search.retrieval import BM25Retriever, run_to_dict  # noqa: E402

log = logging.getLogger(__name__)

PROMOTED = "candidate"   # the model the gate promotes (dense name in the systems table)


def build_teacher_examples(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                           params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train-split judged pairs (soft labels gain / max gain) + unjudged BM25 negatives (label 0)."""
    p = parse(params)
    cfg = TeacherConfig.from_dict(p.teacher.train.model_dump())
    train_q = queries[(queries["split"] == "train") & queries["query_id"].isin(set(qrels["query_id"]))]
    bm25 = BM25Retriever(product_texts(products, p.text_fields), products["product_id"].tolist())
    cands = run_to_dict(train_q["query_id"].tolist(), bm25.search(train_q["text"].tolist(), k=cfg.candidates))
    ex = teacher_examples(train_q, qrels, products, cands, cfg)
    counts = ex["source"].value_counts().to_dict()
    stats = {"train_queries": int(ex["query_id"].nunique()), "examples": int(len(ex)),
             "by_source": {k: int(v) for k, v in counts.items()},
             "negatives_per_judged_pair": counts.get("negative", 0) / max(counts.get("judged", 1), 1),
             "label_mean": float(ex["label"].mean())}
    return ex, stats


def train_teacher_model(examples: pd.DataFrame, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Train the cross-encoder teacher within its budget (precision and steps from a throughput probe)."""
    from discovery_pipelines.search.rerank import load_cross_encoder

    p = parse(params)
    cfg = TeacherConfig.from_dict(p.teacher.train.model_dump())
    base = p.teacher.base_model
    if cfg.budget_seconds is None:     # no budget to plan: no probe, the configured precision
        from discovery_pipelines.search.precision import resolve_precision

        prec = {"precision": resolve_precision(cfg.precision), "seconds_per_step": None, "reason": "no budget"}
    else:
        prec = choose_precision(cfg.precision, lambda x: probe_seconds_per_step(base, examples, cfg, x), "teacher")
    cfg = cfg.model_copy(update={"precision": prec["precision"]})
    work = Path("data/06_models/teacher_training")
    res = train_teacher(base, examples, work / "final", cfg, seconds_per_step=prec["seconds_per_step"])
    tracking.log_metrics({"teacher_steps": res.steps, "teacher_pairs_per_second": res.examples_per_second})
    return load_cross_encoder(res.model_dir), {**res.summary(), "precision_choice": prec}


def expand_training_labels(teacher: Any, products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                           synthetic_pairs: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Label expansion: the teacher scores (train-query sample + synthetic queries) x BM25 top-k products not
    judged by humans; reports the pairs it adds per human label."""
    from discovery_pipelines.search.precision import resolve_precision

    p = parse(params)
    e = p.expansion
    train_q = queries[(queries["split"] == "train") & queries["query_id"].isin(set(qrels["query_id"]))]
    train_q = train_q.sample(n=min(e.max_queries, len(train_q)), random_state=p.seed)
    syn = synthetic_pairs["query"].astype(str).drop_duplicates() if len(synthetic_pairs) else pd.Series([], dtype=str)
    syn = syn.sample(n=min(e.max_queries, len(syn)), random_state=p.seed) if len(syn) else syn
    syn_ids = [f"synthetic:{i}" for i in range(len(syn))]
    bm25 = BM25Retriever(product_texts(products, p.text_fields), products["product_id"].tolist())
    doc_text = dict(zip(products["product_id"], product_texts(products, p.text_fields)))
    judged = set(zip(qrels["query_id"].astype(str), qrels["product_id"].astype(str)))
    frames = []
    for source, ids, texts in (("train", train_q["query_id"].astype(str).tolist(), train_q["text"].astype(str).tolist()),
                               ("synthetic", syn_ids, syn.tolist())):
        if not ids:
            continue
        cands = run_to_dict(ids, bm25.search(texts, k=e.top_k))
        frames.append(expand_labels(teacher, dict(zip(ids, texts)), cands, doc_text, exclude=judged,
                                    top_k=e.top_k, positive_prob=e.positive_prob, negative_prob=e.negative_prob,
                                    batch_size=p.rerank.batch_size, precision=resolve_precision(p.teacher.train.precision),
                                    source=source))
    labels = pd.concat(frames, ignore_index=True)
    human = int(qrels["query_id"].isin(set(train_q["query_id"])).sum())
    counts = labels.groupby(["source", "teacher_label"]).size().unstack(fill_value=0)
    stats = {"scored_pairs": int(len(labels)), "human_labels_of_sampled_train_queries": human,
             "by_source": {s: {k: int(v) for k, v in row.items()} for s, row in counts.iterrows()},
             "teacher_positives_per_human_label": float((labels["teacher_label"] == "teacher_positive").sum() / max(human, 1)),
             "scored_pairs_per_human_label": float(len(labels) / max(human, 1)),
             "thresholds": {"positive_prob": e.positive_prob, "negative_prob": e.negative_prob}}
    return labels, stats


def compare_modes(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, reference: Any,
                  candidate: Any, teacher: Any, params: dict[str, Any], model_params: dict[str, Any],
                  ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Every served mode on dev and holdout, fusion chosen on dev, re-ranking, teacher agreement,
    latency per mode and the default served mode (best dev nDCG@10 within the latency budget)."""
    from discovery_pipelines.search.precision import resolve_precision

    p = parse(params)
    dense = {"base": model_params["production"], "reference": reference, PROMOTED: candidate}
    bm25 = BM25Retriever(product_texts(products, p.text_fields), products["product_id"].tolist())
    splits = C.first_stage_runs(products, queries, qrels, dense, splits=p.splits, k=p.k,
                                text_fields=p.text_fields, cache_dir=p.cache_dir, bm25=bm25)
    grid = default_grid(p.fusion.rrf_c, p.fusion.rrf_dense_weight, p.fusion.alphas)
    fusion = {PROMOTED: C.add_fusions(splits, PROMOTED, grid=grid, rel_threshold=p.rel_threshold, k=p.k)}
    doc_text = dict(zip(products["product_id"], product_texts(products, p.text_fields)))
    precision = resolve_precision(p.teacher.train.precision)
    dev = splits[p.splits[0]]
    agreement = C.teacher_agreement(teacher, dev, doc_text, rel_threshold=p.rel_threshold,
                                    candidates=dev.runs[f"hybrid:{PROMOTED}"], top_n=p.rerank.agreement_top_n,
                                    batch_size=p.rerank.batch_size, precision=precision)
    speed = C.add_rerank(splits, PROMOTED, teacher, doc_text, top_n=p.rerank.top_n, k=p.k,
                         batch_size=p.rerank.batch_size, precision=precision)
    per_q, table = C.score_systems(splits, rel_threshold=p.rel_threshold,
                                   baselines=("bm25", f"dense:{PROMOTED}", f"hybrid_rrf60:{PROMOTED}"),
                                   samples=p.bootstrap_samples, seed=p.seed)
    latency = C.mode_latency(products, dev.texts[: p.serving.latency_queries], candidate, teacher,
                             FusionConfig.from_dict(fusion[PROMOTED]["config"]), top_n=p.rerank.top_n,
                             candidates=p.k, bm25=bm25, cache_dir=p.cache_dir, text_fields=p.text_fields,
                             precision=precision)
    on_dev = table[p.splits[0]]
    dev_by_mode = {"bm25": on_dev["bm25"]["ndcg@10"], "dense": on_dev[f"dense:{PROMOTED}"]["ndcg@10"],
                   "hybrid": on_dev[f"hybrid:{PROMOTED}"]["ndcg@10"], "rerank": on_dev[f"rerank:{PROMOTED}"]["ndcg@10"]}
    choice = C.choose_serving_mode(dev_by_mode, latency, p.serving.latency_budget_p95_ms)
    choice.update(fusion=fusion[PROMOTED]["config"], rerank_top_n=p.rerank.top_n)
    log.info("served default mode: %s (dev nDCG@10 %s; p95 budget %.0f ms)", choice["default_mode"],
             {k: round(v, 4) for k, v in dev_by_mode.items()}, p.serving.latency_budget_p95_ms)
    tracking.log_metrics({f"quality_{s}_{n.replace(':', '_')}_ndcg_at_10": r["ndcg@10"]
                          for s, rows in table.items() for n, r in rows.items()})
    metrics = {"by_split": table, "fusion": fusion, "teacher_agreement_dev": agreement,
               "rerank_pairs_per_second": speed, "latency_ms": latency, "serving": choice}
    return per_q, metrics, choice


def report(metrics: dict[str, Any], teacher_summary: dict[str, Any], example_stats: dict[str, Any],
           expansion_stats: dict[str, Any], gate_decision: dict[str, Any]) -> tuple[str, plt.Figure]:
    """Markdown report (one table per split with CIs, fusion, teacher, latency, serving) and the CI plot."""
    by = metrics["by_split"]
    out = ["# Search quality: every served mode, dev and holdout\n",
           f"\nPromoted model = `{PROMOTED}` (gate {'passed' if gate_decision.get('passed') else 'FAILED: not served'}). "
           "Deltas are nDCG@10 differences with 95 % paired bootstrap intervals.\n"]
    for split, rows in by.items():
        recs = []
        for name, r in rows.items():
            rec = {"system": name, "ndcg@10": r["ndcg@10"], "recall@100": r["recall@100"]}
            for b, col in (("bm25", "vs bm25"), (f"dense:{PROMOTED}", "vs today's recipe (dense)"),
                           (f"hybrid_rrf60:{PROMOTED}", "vs today's hybrid (RRF 60)")):
                ci = r.get(f"vs_{b}")
                rec[col] = f"{ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]" if ci else "-"
            recs.append(rec)
        out.append(f"\n## {split}\n\n" + markdown_table(recs, ["system", "ndcg@10", "recall@100", "vs bm25",
                                                                "vs today's recipe (dense)", "vs today's hybrid (RRF 60)"]))
    f = metrics["fusion"][PROMOTED]
    out.append(f"\n## Fusion (chosen on dev)\n\n`{f['label']}`: dev nDCG@10 {f['dev_ndcg@10']:.4f}; inputs "
               f"{ {k: round(v, 4) for k, v in f['inputs_dev_ndcg@10'].items()} }; best per family "
               f"{ {k: round(v, 4) for k, v in f['best_per_method_dev_ndcg@10'].items()} }\n")
    a = metrics["teacher_agreement_dev"]
    out.append("\n## Teacher (cross-encoder)\n\n" + markdown_table([{
        "spearman vs gain": a["spearman_vs_gain"], "ROC-AUC relevant vs not": a["roc_auc_relevant_vs_not"] or float("nan"),
        "ROC-AUC judged vs unjudged candidates": a.get("roc_auc_judged_vs_unjudged_candidates") or float("nan"),
        "train steps": teacher_summary["steps"], "pairs/s": teacher_summary["examples_per_second"],
        "precision": teacher_summary["precision"]}], ["spearman vs gain", "ROC-AUC relevant vs not",
                                                      "ROC-AUC judged vs unjudged candidates", "train steps", "pairs/s",
                                                      "precision"]))
    out.append(f"\nTraining examples: {example_stats['by_source']} over {example_stats['train_queries']} train queries; "
               f"budget plan: {teacher_summary['budget']}\n")
    out.append(f"\n## Label expansion\n\nThe teacher scored {expansion_stats['scored_pairs']} unjudged (query, BM25 top-k "
               f"product) pairs: {expansion_stats['by_source']}; "
               f"**{expansion_stats['teacher_positives_per_human_label']:.2f} teacher positives per human label** of the "
               f"sampled train queries ({expansion_stats['scored_pairs_per_human_label']:.2f} scored pairs per label). "
               "No student consumes them yet.\n")
    lat = metrics["latency_ms"]
    out.append("\n## Latency per mode (in process, one query at a time)\n\n" + markdown_table(
        [{"mode": m, **v} for m, v in lat.items()], ["mode", "p50_ms", "p95_ms", "n"], ".1f"))
    s = metrics["serving"]
    out.append(f"\n## Served default mode: **{s['default_mode']}** (best dev nDCG@10 with p95 <= "
               f"{s['latency_budget_p95_ms']:.0f} ms; rejected for latency: {s['rejected_for_latency'] or 'none'})\n"
               "\n![comparison](comparison.png)\n")
    return "".join(out), ndcg_ci_plot(by)
