"""Nodes of the ``finetune`` stages (wired in ``pipeline.py``; logic lives in ``discovery_pipelines.finetune``).

Each node validates its parameter block with the models of :mod:`discovery_pipelines.finetune.params`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from discovery_pipelines.data.datasets import Gated  # noqa: E402
from discovery_pipelines.reporting import tracking  # noqa: E402
from discovery_pipelines.search.evaluation import evaluate_splits  # noqa: E402
from discovery_pipelines.search.models import load_model, model_fingerprint  # noqa: E402
from discovery_pipelines.data.params import validate  # noqa: E402
from discovery_pipelines.reporting.figures import markdown_table, metrics_bar_plot  # noqa: E402
from discovery_pipelines.data.splits import held_out_texts  # noqa: E402
from discovery_pipelines.finetune.augment import add_query_typos  # noqa: E402
from discovery_pipelines.finetune.data import assemble_pairs, known_positives  # noqa: E402
from discovery_pipelines.finetune.gate import choose_contender, regression_gate  # noqa: E402
from discovery_pipelines.finetune.interpolate import interpolate_weights  # noqa: E402
from discovery_pipelines.finetune.negatives import judged_negatives, mine_band_negatives  # noqa: E402
from discovery_pipelines.finetune.params import (  # noqa: E402
    AugmentParams,
    DataParams,
    DevEvalParams,
    ExportParams,
    GateParams,
    ModelsParams,
    NegativesParams,
    ReferenceParams,
)
from discovery_pipelines.search.params import EvaluateParams  # noqa: E402
from discovery_pipelines.finetune.trainer import (  # noqa: E402
    TrainConfig,
    bare_trainer_throughput,
    dev_split_evaluator,
    train,
)

log = logging.getLogger(__name__)


def assemble_training_pairs(
    products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
    mined_positives: pd.DataFrame, synthetic_pairs: pd.DataFrame, params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Qrels + log-mined + synthetic pairs, de-duplicated, leakage-free, capped per source."""
    p = validate(DataParams, params, "finetune.data")
    pairs, stats = assemble_pairs(
        products, queries, qrels, mined_positives, synthetic_pairs, qrels_min_gain=p.qrels_min_gain,
        caps=p.caps, priority=tuple(p.priority), max_pairs=p.max_pairs, seed=p.seed, qrels_sampling=p.qrels_sampling,
    )
    tracking.log_metrics({f"pairs_{k}": v for k, v in stats["kept"].items()})
    return pairs, stats


def add_hard_negatives(
    pairs: pd.DataFrame, products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
    params: dict[str, Any], model_params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Hard negatives per anchor: judged-irrelevant products of the query first (when
    ``judged_max_gain`` is set), then cosine-band negatives of the production model."""
    p = validate(NegativesParams, params, "finetune.negatives")
    models = validate(ModelsParams, model_params, "finetune.models")
    if p.num_negatives <= 0:
        return pairs, {"skipped": True}
    exclude = known_positives(qrels, queries, pairs, p.exclude_min_gain)
    preferred = judged_negatives(qrels, queries, p.judged_max_gain) if p.judged_max_gain is not None else None
    return mine_band_negatives(
        models.production, pairs, products, exclude, min_score=p.min_score, max_score=p.max_score,
        num_negatives=p.num_negatives, candidates=p.candidates, sampling=p.sampling, cache_dir=models.cache_dir,
        preferred=preferred, max_relative=p.max_relative, fill_random=p.fill_random,
    )


def augment_queries(
    examples: pd.DataFrame, queries: pd.DataFrame, params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Typo-aware training: one keyboard typo in the anchor of a seeded ``typo_rate`` share of the
    ``typo_sources`` rows (see :mod:`discovery_pipelines.finetune.augment`); never a held-out query."""
    p = validate(AugmentParams, params, "finetune.augment")
    out, stats = add_query_typos(examples, rate=p.typo_rate, seed=p.seed, sources=p.typo_sources, layout=p.layout,
                                 held_out=held_out_texts(queries))
    tracking.log_metrics({"typo_anchors": stats["noised"]})
    return out, stats


def train_reference(
    products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, params: dict[str, Any],
    model_params: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """The plain reference recipe (baseline node): in-batch-negative MNRL on train-split qrels pairs.

    Same data budget as the candidate (``params['max_pairs']``); no hard negatives, no log or synthetic data.
    """
    p = validate(ReferenceParams, params, "finetune.reference")
    models = validate(ModelsParams, model_params, "finetune.models")
    pairs, _ = assemble_pairs(products, queries, qrels, None, None, qrels_min_gain=p.qrels_min_gain,
                              max_pairs=p.max_pairs, seed=p.seed)
    cfg = p.train
    res = train(models.production, pairs, Path(models.work_dir) / "reference", cfg)
    return load_model(res.model_dir), res.summary(cfg)


def train_candidate(
    pairs: pd.DataFrame, products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
    train_params: dict[str, Any], dev_eval: dict[str, Any] | None, model_params: dict[str, Any],
    throughput_check_steps: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the production checkpoint on the assembled pairs (with hard negatives when the
    examples carry them), monitored on a dev subset every ``eval_steps``.

    With ``throughput_check_steps`` > 0, sentence-transformers' trainer alone (no evaluator, checkpoints or
    callbacks) then trains that many steps on the same rows and settings, and the summary carries the ratio
    of our training examples / s to its examples / s (``throughput_ratio_vs_st_trainer``).
    """
    cfg = validate(TrainConfig, train_params, "finetune.candidate.train")
    models = validate(ModelsParams, model_params, "finetune.models")
    ev = validate(DevEvalParams, dev_eval, "finetune.candidate.dev_eval") if dev_eval else None
    evaluator = dev_split_evaluator(products, queries, qrels, **ev.model_dump()) if ev else None
    res = train(models.production, pairs, Path(models.work_dir) / "candidate", cfg,
                evaluator=evaluator, callbacks=[tracking.MlflowStepCallback(prefix="candidate_")])
    summary = res.summary(cfg)
    if int(throughput_check_steps or 0) > 0:
        bare = bare_trainer_throughput(models.production, pairs, cfg, int(throughput_check_steps))
        summary["st_trainer_alone"] = bare
        summary["throughput_ratio_vs_st_trainer"] = res.examples_per_second / bare["examples_per_second"]
        tracking.log_metrics({"candidate_throughput_ratio_vs_st_trainer": summary["throughput_ratio_vs_st_trainer"]})
    return load_model(res.model_dir), summary


def interpolate_candidate(finetuned: Any, alpha: float, model_params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """WiSE-FT: the candidate is ``(1 - alpha) * production + alpha * fine-tuned`` (alpha = 1 keeps the
    fine-tuned weights). A separate node so that changing alpha re-runs evaluation, not training."""
    alpha = float(alpha)
    production = validate(ModelsParams, model_params, "finetune.models").production
    model = finetuned if alpha >= 1.0 else interpolate_weights(production, finetuned, alpha)
    tracking.log_metrics({"candidate_wise_alpha": alpha})
    return model, {"wise_alpha": alpha, "production": str(production),
                   "fingerprint": model_fingerprint(model)}


def evaluate_models(
    products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
    reference: Any, candidate: Any, params: dict[str, Any], model_params: dict[str, Any], student: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Dense full-catalogue evaluation of base, reference, candidate and (when given) the distilled student
    on dev and holdout."""
    ev = validate(EvaluateParams, params, "evaluate")
    mp = validate(ModelsParams, model_params, "finetune.models")
    models = {"base": mp.production, "reference": reference, "candidate": candidate}
    if student is not None:
        models["student"] = student
    res = evaluate_splits(models, products, queries, qrels, splits=("dev", "holdout"), retrievers=["dense"], k=100,
                          rel_threshold=ev.rel_threshold, good_rule=[c.model_dump() for c in ev.good_rule],
                          cache_dir=mp.cache_dir)
    by_split = {split: {name: m["dense"] for name, m in systems.items()} for split, systems in res.metrics.items()}
    timings = {f"{split}/{name}": t["total_s"] for split, systems in res.timings.items() for name, t in systems.items()}
    for split, systems in by_split.items():
        for name, mets in systems.items():
            tracking.log_metrics({f"{split}_{name}_{k.replace('@', '_at_')}": v for k, v in mets.items()})
    return res.per_query, {"by_split": by_split, "timings_s": timings}


def gate(per_query: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Regression gate of each contender (the candidate, today's recipe, and the distilled student when it was
    evaluated) against production; :func:`discovery_pipelines.finetune.gate.choose_contender` promotes the one
    that passes with the best dev nDCG@10. The returned decision is the chosen contender's (the candidate's
    when none passes) plus ``chosen`` and every contender's checks."""
    prod = per_query[per_query["model"] == "base"]
    rules = validate(GateParams, params, "finetune.gate").model_dump()
    contenders = {name: regression_gate(prod, per_query[per_query["model"] == name], **rules)
                  for name in ("candidate", "student") if (per_query["model"] == name).any()}
    decision = choose_contender(contenders)
    ref = per_query[per_query["model"] == "reference"]
    if len(ref):   # context only: how the plain recipe would fare under the same rules
        r = regression_gate(prod, ref, **rules)
        decision["reference_recipe_for_context"] = {"passed": r["passed"], "checks": r["checks"]}
    tracking.log_metrics({"gate_passed": float(decision["passed"]),
                          "gate_flips": float(decision["checks"]["good_to_not_good_flips"]["value"])})
    tracking.set_tags({"gate": "passed" if decision["passed"] else "failed", "promoted": str(decision["chosen"])})
    return decision


def promote(
    decision: dict[str, Any], candidate: Any, products: pd.DataFrame, params: dict[str, Any],
    model_params: dict[str, Any], serving: dict[str, Any] | None = None, reranker: Any = None,
    student: Any = None, ltr_ranker: str | None = None,
) -> tuple[Gated, Gated, dict[str, Any]]:
    """Release the contender the gate chose (``decision["chosen"]``: the candidate or the distilled
    ``student``) — only when the gate passed; a failing candidate is never exported.

    Returns ``(production_model, search_index, promotion)``: the first two are :class:`Gated` values for the
    catalog's ``GatedDataset`` entries (the model folder, then the faiss index folder + manifest that the
    search service reads). When the gate passed, the chosen contender and its index are written and the
    contender is registered in MLflow with the ``production`` alias. When it failed, nothing is registered
    and the previous release keeps serving; where there is no release yet (a first run: the dataset does not
    exist), the fallbacks are written instead: the production checkpoint the gate compared against
    (``finetune.models.production``) and its index, so search works out of the box. ``serving`` (the quality
    stage's choice: fusion tuned on dev, default mode, re-rank depth; tuned for the production checkpoint
    when the gate failed), the ``reranker`` cross-encoder and the LambdaMART ``ltr_ranker`` (LightGBM model text,
    for ``mode=ltr``) go into the index folder and its manifest. The
    catalog saves the model before the index (output order), and the index is encoded with, and records,
    the model folder just written (or the previous release's when that stays).
    """
    p = validate(ExportParams, params, "finetune.export")
    models = validate(ModelsParams, model_params, "finetune.models")
    serving = serving or {}
    # export_index encodes the catalogue with the saved production model (embedding cache: the evaluation
    # already encoded it with these weights)
    index = {"products": products, "factory": p.factory, "cache_dir": models.cache_dir,
             "fusion": serving.get("fusion"), "reranker": reranker,
             "rerank_top_n": int(serving.get("rerank_top_n", 20)),
             "rerank_first_stage_weight": float(serving.get("rerank_first_stage_weight", 0.0)),
             "default_mode": serving.get("default_mode", "hybrid"), "serving": serving,
             "ltr": ltr_ranker, "ltr_depth": int(serving.get("ltr_depth", 50))}
    if not decision["passed"]:
        log.warning("regression gate failed: no contender is promoted; the production checkpoint %s is "
                    "released only where no release exists yet", models.production)
        production = load_model(models.production, device="cpu")
        return (Gated(None, False, "gate failed", fallback=production),
                Gated(None, False, "gate failed", fallback=index),
                {"promoted": False, "reason": "gate failed", "checks": decision["checks"],
                 "fallback": f"{models.production}: released only where no release exists yet"})
    chosen = decision.get("chosen") or "candidate"
    model = {"candidate": candidate, "student": student}[chosen]
    if model is None:
        raise ValueError(f"promote: the gate chose {chosen!r}, but that model was not given")
    version = tracking.register_model(model, p.registered_model_name, alias="production")
    return (Gated(model, True), Gated(index, True),
            {"promoted": True, "model": chosen, "model_fingerprint": model_fingerprint(model),
             "registered_version": version, "default_mode": serving.get("default_mode", "hybrid")})


def report(
    metrics: dict[str, Any], decision: dict[str, Any], reference_summary: dict[str, Any],
    candidate_summary: dict[str, Any], pair_stats: dict[str, Any], negative_stats: dict[str, Any],
    promotion: dict[str, Any], interpolation_stats: dict[str, Any] | None = None,
    student_summary: dict[str, Any] | None = None,
) -> tuple[str, plt.Figure, dict[str, Any]]:
    """Markdown report, comparison plot and the gate JSON."""
    by = metrics["by_split"]
    lines = ["# Fine-tuning report\n", "\n## Base vs reference recipe vs candidate (dense, full catalogue)\n"]
    for split, systems in by.items():
        rows = [{"model": n, **{k: v for k, v in m.items()}} for n, m in systems.items()]
        lines.append(f"\n### {split}\n\n" + markdown_table(rows, ["model", "ndcg@10", "recall@100", "mrr@10", "p@10", "good_rate", "n_queries"]))
    dev = by["dev"]
    lines.append(
        f"\nCandidate - reference nDCG@10 on dev: **{dev['candidate']['ndcg@10'] - dev['reference']['ndcg@10']:+.4f}**; "
        f"candidate - base: **{dev['candidate']['ndcg@10'] - dev['base']['ndcg@10']:+.4f}**\n"
    )
    lines.append(f"\n## Regression gate: **{'PASSED' if decision['passed'] else 'FAILED'}** "
                 f"(promoted: {decision.get('chosen') or 'none'})\n\n")
    if decision.get("contenders"):
        lines.append(markdown_table([{"contender": n, "passed": c["passed"], "dev ndcg@10": c["dev_ndcg@10"],
                                      "flips": c["checks"]["good_to_not_good_flips"]["value"]}
                                     for n, c in decision["contenders"].items()],
                                    ["contender", "passed", "dev ndcg@10", "flips"]) + "\n")
    lines.append(markdown_table([{"check": k, **v} for k, v in decision["checks"].items()], ["check", "value", "limit", "passed"]))
    ctx = decision.get("reference_recipe_for_context")
    if ctx:
        lines.append("\nFor context, the reference recipe under the same rules: "
                     + ", ".join(f"{k} {v['value']:.4g} ({'pass' if v['passed'] else 'fail'})" for k, v in ctx["checks"].items())
                     + "\n")
    if decision["flips"]:
        lines.append("\nGood -> Not Good flips on the regression holdout:\n\n"
                     + markdown_table(decision["flips"], ["text", "production", "candidate"]))
    cols = ("examples", "train_seconds", "examples_per_second")
    ref_eps, cand_eps = reference_summary["examples_per_second"], candidate_summary["examples_per_second"]
    lines.append("\n## Training\n\n" + markdown_table(
        [{"run": "reference", **{k: reference_summary[k] for k in cols}, "wise_alpha": 1.0},
         {"run": "candidate", **{k: candidate_summary[k] for k in cols},
          "wise_alpha": (interpolation_stats or {}).get("wise_alpha", 1.0)},
         *([{"run": "student (from the candidate)", **{k: student_summary[k] for k in cols}, "wise_alpha": 1.0}]
           if student_summary else [])],
        ["run", *cols, "wise_alpha"]))
    bare = candidate_summary.get("st_trainer_alone")
    if bare:
        lines.append(f"\nCandidate training vs sentence-transformers' trainer alone on the same rows and settings "
                     f"({bare['steps']} steps, no evaluator / checkpoints / callbacks): {cand_eps:.2f} vs "
                     f"{bare['examples_per_second']:.2f} examples/s, ratio "
                     f"**{candidate_summary['throughput_ratio_vs_st_trainer']:.2f}**\n")
    if ref_eps:
        lines.append(f"\nCandidate / reference training examples per second: {cand_eps / ref_eps:.2f} "
                     "(a candidate example carries its hard negatives; the reference is sentence-transformers' "
                     "trainer on plain pairs)\n")
    lines.append(f"\nPairs kept per source: {pair_stats.get('kept')}; dropped for leakage: {pair_stats.get('dropped_leakage')}\n")
    lines.append(f"\nHard negatives: {negative_stats}\n")
    lines.append(f"\n## Promotion\n\n{promotion}\n\n![comparison](comparison.png)\n")
    gate_json = {**decision, "promotion": promotion}
    return "".join(lines), metrics_bar_plot(by), gate_json
