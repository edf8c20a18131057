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
    TeacherConfig, probe_seconds_per_step, teacher_examples, train_teacher)
from discovery_pipelines.quality import compare as C  # noqa: E402
from discovery_pipelines.quality.params import parse  # noqa: E402
from discovery_pipelines.reporting import tracking  # noqa: E402
from discovery_pipelines.reporting.figures import markdown_table, ndcg_ci_plot  # noqa: E402
from discovery_pipelines.search.embeddings import product_texts  # noqa: E402
from discovery_pipelines.search.fusion import FusionConfig, default_grid  # noqa: E402
from discovery_pipelines.search.retrieval import BM25Retriever, run_to_dict  # noqa: E402

log = logging.getLogger(__name__)

TODAY = "candidate"   # today's recipe (dense name in the systems table); the gate may promote the student instead
CONTENDERS = ("candidate", "student")
BASE = "base"         # the production checkpoint (dense name): served where the gate failed and no release exists


def served_model(gate_decision: dict[str, Any] | None) -> str:
    """The dense model the search service will serve after the release: the contender the gate chose when
    it passed (today's recipe when the decision names none), else the production checkpoint (:data:`BASE`),
    which ``promote`` releases where no release exists yet (a failing gate otherwise keeps the previous one)."""
    d = gate_decision or {}
    if d and not d.get("passed"):
        return BASE
    return d.get("chosen") or TODAY


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


def compare_modes(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, reference: Any,
                  candidate: Any, teacher: Any, params: dict[str, Any], model_params: dict[str, Any],
                  student: Any = None, gate_decision: dict[str, Any] | None = None,
                  ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any], str]:
    """Every served mode on dev and holdout for the dense contenders (today's candidate and the distilled
    student), fusion chosen on dev per contender and for the served model, re-ranking and latency with the
    served model, teacher agreement, and the default served mode (best dev nDCG@10 within the latency budget).

    The served model (:func:`served_model`) is the contender the gate promotes, or the production checkpoint
    (``base``) when the gate failed: on a first run ``promote`` then releases the production checkpoint, with
    the fusion, re-ranking and default mode chosen here for it.

    The LambdaMART ranker (``ltr``) learns from the ``ltr_train_split`` queries' first stage of the served
    model and is returned as LightGBM model text (the fourth output), which ``promote`` copies into the index."""
    from discovery_pipelines.search.precision import resolve_precision

    p = parse(params)
    promoted = served_model(gate_decision)
    dense = {BASE: model_params["production"], "reference": reference, TODAY: candidate}
    if student is not None:
        dense["student"] = student
    bm25 = BM25Retriever(product_texts(products, p.text_fields), products["product_id"].tolist())
    splits = C.first_stage_runs(products, queries, qrels, dense, splits=p.splits, k=p.k,
                                text_fields=p.text_fields, cache_dir=p.cache_dir, bm25=bm25)
    grid = default_grid(p.fusion.rrf_c, p.fusion.rrf_dense_weight, p.fusion.alphas)
    fusion = {m: C.add_fusions(splits, m, grid=grid, rel_threshold=p.rel_threshold, k=p.k)
              for m in (*CONTENDERS, *([] if promoted in CONTENDERS else [promoted])) if m in dense}
    served_fusion = FusionConfig.from_dict(fusion[promoted]["config"])
    train_q = queries[queries["split"] == p.ltr_train_split]
    if p.ltr.max_train_queries is not None:
        judged = train_q[train_q["query_id"].isin(set(qrels["query_id"]))]
        train_q = judged.sample(n=min(p.ltr.max_train_queries, len(judged)), random_state=p.ltr.seed)
    train_runs = C.first_stage_runs(products, train_q, qrels, {promoted: dense[promoted]}, splits=[p.ltr_train_split],
                                    k=p.k, text_fields=p.text_fields, cache_dir=p.cache_dir, bm25=bm25)
    ranker, ltr_stats = C.add_ltr(splits, promoted, dense[promoted], train_runs[p.ltr_train_split],
                                  served_fusion, products, p.ltr, k=p.k,
                                  text_fields=p.text_fields, cache_dir=p.cache_dir)
    doc_text = dict(zip(products["product_id"], product_texts(products, p.text_fields)))
    precision = resolve_precision(p.teacher.train.precision)
    dev = splits[p.splits[0]]
    agreement = C.teacher_agreement(teacher, dev, doc_text, rel_threshold=p.rel_threshold,
                                    candidates=dev.runs[f"hybrid:{promoted}"], top_n=p.rerank.agreement_top_n,
                                    batch_size=p.rerank.batch_size, precision=precision)
    speed, rerank_choice = C.add_rerank(splits, promoted, teacher, doc_text, top_n=p.rerank.top_n, k=p.k,
                                        batch_size=p.rerank.batch_size, precision=precision,
                                        first_stage_weights=p.rerank.first_stage_weights, tune_on=p.splits[0],
                                        rel_threshold=p.rel_threshold)
    per_q, table = C.score_systems(splits, rel_threshold=p.rel_threshold,
                                   baselines=("bm25", f"dense:{TODAY}", f"hybrid_rrf60:{TODAY}"),
                                   samples=p.bootstrap_samples, seed=p.seed)
    latency = C.mode_latency(products, dev.texts[: p.serving.latency_queries], dense[promoted], teacher,
                             served_fusion, top_n=p.rerank.top_n,
                             candidates=p.k, bm25=bm25, cache_dir=p.cache_dir, text_fields=p.text_fields,
                             precision=precision, first_stage_weight=rerank_choice["first_stage_weight"],
                             ranker=ranker, ltr_depth=p.ltr.depth)
    on_dev = table[p.splits[0]]
    dev_by_mode = {"bm25": on_dev["bm25"]["ndcg@10"], "dense": on_dev[f"dense:{promoted}"]["ndcg@10"],
                   "hybrid": on_dev[f"hybrid:{promoted}"]["ndcg@10"], "rerank": on_dev[f"rerank:{promoted}"]["ndcg@10"],
                   "ltr": on_dev[f"ltr:{promoted}"]["ndcg@10"]}
    choice = C.choose_serving_mode(dev_by_mode, latency, p.serving.latency_budget_p95_ms)
    choice.update(fusion=fusion[promoted]["config"], rerank_top_n=p.rerank.top_n,
                  rerank_first_stage_weight=rerank_choice["first_stage_weight"], model=promoted, ltr_depth=p.ltr.depth)
    log.info("served default mode: %s with the %s model (dev nDCG@10 %s; p95 budget %.0f ms)", choice["default_mode"],
             promoted, {k: round(v, 4) for k, v in dev_by_mode.items()}, p.serving.latency_budget_p95_ms)
    tracking.log_metrics({f"quality_{s}_{n.replace(':', '_')}_ndcg_at_10": r["ndcg@10"]
                          for s, rows in table.items() for n, r in rows.items()})
    metrics = {"promoted": promoted, "by_split": table, "fusion": fusion, "teacher_agreement_dev": agreement,
               "rerank_pairs_per_second": speed, "rerank": rerank_choice, "ltr": ltr_stats, "latency_ms": latency,
               "serving": choice}
    return per_q, metrics, choice, ranker.model_to_string()


def report(metrics: dict[str, Any], teacher_summary: dict[str, Any], example_stats: dict[str, Any],
           expansion_stats: dict[str, Any], gate_decision: dict[str, Any],
           student_summary: dict[str, Any] | None = None) -> tuple[str, plt.Figure]:
    """Markdown report (one table per split with CIs, fusion, teacher, label expansion and student, latency,
    serving) and the CI plot."""
    by = metrics["by_split"]
    promoted = metrics.get("promoted", TODAY)
    contenders = {n: round(c["dev_ndcg@10"], 4) for n, c in (gate_decision.get("contenders") or {}).items()}
    why = ("gate passed" if gate_decision.get("passed")
           else "gate failed: the production checkpoint serves where no release exists")
    out = ["# Search quality: every served mode, dev and holdout\n",
           f"\nServed model = `{promoted}` ({why}). Contenders' dev nDCG@10: {contenders}. Today's recipe = "
           "`candidate`. Deltas are nDCG@10 differences with 95 % paired bootstrap intervals.\n"]
    for split, rows in by.items():
        recs = []
        for name, r in rows.items():
            rec = {"system": name, "ndcg@10": r["ndcg@10"], "recall@100": r["recall@100"]}
            for b, col in (("bm25", "vs bm25"), (f"dense:{TODAY}", "vs today's recipe (dense)"),
                           (f"hybrid_rrf60:{TODAY}", "vs today's hybrid (RRF 60)")):
                ci = r.get(f"vs_{b}")
                rec[col] = f"{ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]" if ci else "-"
            recs.append(rec)
        out.append(f"\n## {split}\n\n" + markdown_table(recs, ["system", "ndcg@10", "recall@100", "vs bm25",
                                                                "vs today's recipe (dense)", "vs today's hybrid (RRF 60)"]))
    out.append("\n## Fusion (chosen on dev, per dense model)\n")
    for m, f in metrics["fusion"].items():
        out.append(f"\n- `{m}`: `{f['label']}`: dev nDCG@10 {f['dev_ndcg@10']:.4f}; inputs "
                   f"{ {k: round(v, 4) for k, v in f['inputs_dev_ndcg@10'].items()} }; best per family "
                   f"{ {k: round(v, 4) for k, v in f['best_per_method_dev_ndcg@10'].items()} }\n")
    rr = metrics.get("rerank")
    if rr:
        out.append(f"\n## Re-ranking\n\nHybrid top-N re-scored by the cross-encoder, interpolated with the hybrid score: "
                   f"first-stage weight **{rr['first_stage_weight']}** chosen on dev (dev nDCG@10 by weight "
                   f"{ {w: round(v, 4) for w, v in next(v for k, v in rr.items() if k.endswith('_by_weight')).items()} }; "
                   "0 = the cross-encoder alone).\n")
    lt = metrics.get("ltr")
    if lt:
        out.append(f"\n## Learned ranking (LambdaMART)\n\nThe hybrid's top {lt['depth']} re-ordered by LightGBM "
                   f"lambdarank trained on {lt['train_queries']} train queries ({lt['train_rows']} candidates, "
                   f"{lt['judged_rows']} judged) in {sum(lt['seconds'].values()):.0f} s; share of split gain per "
                   f"feature: {lt['importance']}.\n")
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
    e = expansion_stats
    out.append(f"\n## Label expansion and the distilled student\n\nThe teacher (ensemble {e['ensemble']}) scored "
               f"{e['scored_pairs']} pairs of {e['queries']} queries at {e['teacher_pairs_per_second']:.0f} pairs/s: "
               f"**{e['teacher_pairs_per_human_label']:.2f} unjudged pairs per human label** of the sampled train "
               f"queries ({e['teacher_positives_per_human_label']:.2f} teacher positives, "
               f"{e['teacher_confirmed_negatives']} confirmed negatives); seconds {e['seconds']}.\n")
    if student_summary:
        b = student_summary.get("budget")
        plan = f"; {b['steps']} of {b['full_steps']} steps, {b['reason']}" if b else ""
        out.append(f"\nStudent (initialised from the candidate, loss `{student_summary['config']['loss']}`): "
                   f"{student_summary['examples']} rows in {student_summary['train_seconds']:.0f} s "
                   f"({student_summary['examples_per_second']:.1f} rows/s{plan}).\n")
    lat = metrics["latency_ms"]
    out.append(f"\n## Latency per mode (in process, one query at a time, `{promoted}` model)\n\n" + markdown_table(
        [{"mode": m, **v} for m, v in lat.items()], ["mode", "p50_ms", "p95_ms", "n"], ".1f"))
    s = metrics["serving"]
    out.append(f"\n## Served default mode: **{s['default_mode']}** (best dev nDCG@10 with p95 <= "
               f"{s['latency_budget_p95_ms']:.0f} ms; rejected for latency: {s['rejected_for_latency'] or 'none'})\n"
               "\n![comparison](comparison.png)\n")
    return "".join(out), ndcg_ci_plot(by)
