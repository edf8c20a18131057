"""Fine-tuning with sentence-transformers' trainer and (Cached)MultipleNegativesRankingLoss.

MNRL (Henderson et al. 2017, "Efficient Natural Language Response Suggestion for Smart Reply";
van den Oord et al. 2018 InfoNCE): for a batch of B (anchor a_i, positive p_i[, negative n_i]) the
loss is the cross-entropy of softmax(scale * cos(a_i, c_j)) over candidates c = all positives and
negatives in the batch, with target p_i. Every other row's positive is an in-batch negative;
explicit hard negatives add one more candidate per row. The no-duplicates batch sampler keeps two
pairs with the same query or product out of one batch (they would be false in-batch negatives).
The cached variant (Gao et al. 2021, GradCache) decouples the contrastive batch size from memory.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from discovery_pipelines.data.io import sha256_parts
from discovery_pipelines.search.models import load_model, model_fingerprint
from discovery_pipelines.data.params import Params
from discovery_pipelines.data.splits import judged_and_sampled
from discovery_pipelines.search.precision import resolve_precision

log = logging.getLogger(__name__)


class TrainConfig(Params):
    """Training hyper-parameters (``finetune.reference.train`` / ``finetune.candidate.train`` in
    ``conf/base/parameters_finetune.yml``); unknown keys are errors (:class:`~discovery_pipelines.data.params.Params`)."""

    loss: str = "mnrl"                  # mnrl | cached_mnrl | mnrl_symmetric | qcc | distill_kl | margin_mse
    batch_size: int = 64
    mini_batch_size: int = 32           # cached_mnrl only
    learning_rate: float = 3e-5
    epochs: float = 1.0
    max_steps: int = -1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0                 # MNRL temperature^-1 (distill_kl: the student's temperature is 1 / scale)
    teacher_temperature: float = 0.1    # distill_kl: softmax temperature of the teacher's scores (in [0, 1])
    directions: tuple[str, ...] = ("query_to_doc",)  # + query_to_query, doc_to_query, doc_to_doc (GTE loss)
    partition_mode: str = "joint"       # joint softmax over all directions, or per_direction
    hardness_mode: str | None = None    # in_batch_negatives | hard_negatives | all_negatives
    hardness_strength: float = 0.0      # alpha of the hardness penalty (EmbeddingGemma uses 5)
    batch_sampler: str = "no_duplicates"
    num_negatives: int = 0              # explicit hard-negative columns used (0 = in-batch only)
    max_seq_length: int | None = 64     # training-time truncation (tokens); the saved model keeps the base's
    eval_steps: int = 50
    early_stopping_patience: int | None = 3
    best_min_delta: float = 0.002       # keep the final model unless the best checkpoint beats it by this much
    seed: int = 13
    save_total_limit: int = 2
    logging_steps: int = 10
    precision: str = "auto"             # fp32 | bf16 (mixed-precision autocast) | auto (DISCOVERY_PRECISION, else bf16 where native)
    budget_seconds: float | None = None  # wall-clock cap: steps = min(one pass, budget / probed s per step), see finetune.budget


@dataclass
class TrainResult:
    """Where the model went and what happened: ``history`` rows are the trainer's log entries.

    ``train_seconds`` is the wall time of every step of the job, those trained before a resume included
    (read from the resumed checkpoint's ``elapsed.json``); ``examples`` the training examples those seconds
    cover (a checkpoint without that ledger counts only the steps after the resume), so
    ``examples_per_second`` stays a throughput even when a finished job is resumed from its last checkpoint.
    """

    model_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    examples: int = 0
    examples_per_second: float = 0.0
    resumed_from: str | None = None
    best_metric: float | None = None
    selected_step: int | None = None
    selection: str | None = None
    budget: dict[str, Any] | None = None

    def summary(self, config: "TrainConfig") -> dict[str, Any]:
        """JSON-able record of the run (the ``*_summary`` reports): config, seconds, examples / s, selected
        checkpoint, budget plan and the loss / evaluation history."""
        return {
            "config": config.model_dump(), "train_seconds": self.train_seconds, "examples": self.examples,
            "examples_per_second": self.examples_per_second, "resumed_from": self.resumed_from,
            "best_metric": self.best_metric, "selected_step": self.selected_step, "selection": self.selection,
            "budget": self.budget,
            "history": [h for h in self.history if any(k.startswith("eval_") or k == "loss" for k in h)],
        }


def _train_dataset(pairs: pd.DataFrame, num_negatives: int):
    """anchor / positive / negative_1..n columns; plus ``label`` (the teacher's scores, positive first) when
    ``pairs`` carries ``teacher_scores`` (distillation rows of :func:`discovery_pipelines.finetune.distill.student_examples`)."""
    from datasets import Dataset

    cols = {"anchor": pairs["query"].astype(str).tolist(), "positive": pairs["positive"].astype(str).tolist()}
    for j in range(num_negatives):
        cols[f"negative_{j + 1}"] = pairs[f"negative_{j + 1}"].astype(str).tolist()
    if "teacher_scores" in pairs.columns:
        cols["label"] = [[float(x) for x in list(v)[: num_negatives + 1]] for v in pairs["teacher_scores"]]
    return Dataset.from_dict(cols)


def build_ir_evaluator(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, *,
                       rel_threshold: float, n_queries: int, n_distractors: int, seed: int, name: str = "dev"):
    """A small ``InformationRetrievalEvaluator`` for in-training checks: ``n_queries`` dev queries,
    their judged products and ``n_distractors`` random catalogue products (binary relevance)."""
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    rel = qrels[qrels["gain"] >= rel_threshold]
    q = queries[queries["query_id"].isin(set(rel["query_id"]))]
    q = q.sample(n=min(n_queries, len(q)), random_state=seed)
    rel = rel[rel["query_id"].isin(set(q["query_id"]))]
    corpus_df = judged_and_sampled(products, qrels[qrels["query_id"].isin(set(q["query_id"]))]["product_id"],
                                   n_distractors, seed=seed)
    relevant: dict[str, set[str]] = {}
    for a, b in zip(rel["query_id"], rel["product_id"]):
        relevant.setdefault(str(a), set()).add(str(b))
    return InformationRetrievalEvaluator(
        queries=dict(zip(q["query_id"].astype(str), q["text"])),
        corpus=dict(zip(corpus_df["product_id"].astype(str), corpus_df["title"])),
        relevant_docs=relevant, name=name, ndcg_at_k=[10], mrr_at_k=[10], accuracy_at_k=[10],
        precision_recall_at_k=[10, 100], map_at_k=[100], batch_size=128, write_csv=False,
    )


def dev_split_evaluator(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, *,
                        rel_threshold: float, n_queries: int, n_distractors: int, seed: int):
    """:func:`build_ir_evaluator` over the ``dev`` split of ``queries`` (the in-training monitor of the
    candidate and the student)."""
    dev = queries[queries["split"] == "dev"]
    return build_ir_evaluator(products, dev, qrels[qrels["query_id"].isin(set(dev["query_id"]))],
                              rel_threshold=rel_threshold, n_queries=n_queries, n_distractors=n_distractors,
                              seed=seed)


def _make_loss(model: Any, config: TrainConfig) -> Any:
    """The sentence-transformers loss named by ``config.loss`` with the configured variant.

    ``directions`` / ``partition_mode`` select the interaction terms of the InfoNCE softmax (query->doc only is
    classic MNRL; all four with a joint softmax is GTE's improved contrastive loss, Li et al. 2023), and
    ``hardness_mode`` / ``hardness_strength`` add ``strength * stop_grad(cos)`` to negative logits (Lan et al.
    2025; Schechter Vera et al. 2025). ``qcc`` is DashCLIP's query-catalog contrastive loss
    (:class:`discovery_pipelines.finetune.losses.QCCLoss`: the product side is a frozen copy of the
    base model). ``distill_kl`` / ``margin_mse`` distil a teacher's scores (the ``label`` column, positive
    first): the KL divergence of the student's softmax over (positive, negatives) at temperature ``1 / scale``
    from the teacher's at ``teacher_temperature`` (RocketQAv2, Ren et al. 2021), or the MSE of the
    student's score margins against the teacher's (Hofstätter et al. 2020). Raises ValueError for an
    unknown loss name.
    """
    from sentence_transformers import losses

    from discovery_pipelines.finetune.losses import QCCLoss

    variant = dict(scale=config.scale, directions=tuple(config.directions), partition_mode=config.partition_mode,
                   hardness_mode=config.hardness_mode, hardness_strength=config.hardness_strength)
    loss_fns = {
        "mnrl": lambda: losses.MultipleNegativesRankingLoss(model, **variant),
        "mnrl_symmetric": lambda: losses.MultipleNegativesRankingLoss(
            model, **dict(variant, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")),
        "cached_mnrl": lambda: losses.CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=config.mini_batch_size, show_progress_bar=False, **variant),
        "qcc": lambda: QCCLoss(model, scale=config.scale),
        "distill_kl": lambda: losses.DistillKLDivLoss(model, student_temperature=1.0 / config.scale,
                                                      teacher_temperature=config.teacher_temperature),
        "margin_mse": lambda: losses.MarginMSELoss(model),
    }
    if config.loss not in loss_fns:
        raise ValueError(f"unknown loss {config.loss!r}; choose from {sorted(loss_fns)}")
    return loss_fns[config.loss]()


def _usable_rows(pairs: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """``pairs`` without the rows that lack one of the ``config.num_negatives`` hard-negative columns."""
    if config.num_negatives:
        return pairs.dropna(subset=[f"negative_{j + 1}" for j in range(config.num_negatives)])
    return pairs


def _prepare_model(base_model: Any, config: TrainConfig) -> tuple[Any, int]:
    """A trainable copy of ``base_model`` with the training truncation applied, and its inference length."""
    model = load_model(base_model)
    if not isinstance(base_model, (str, Path)):
        import copy

        model = copy.deepcopy(model)
    inference_max_seq_length = model.max_seq_length
    if config.max_seq_length:
        model.max_seq_length = int(config.max_seq_length)
    return model, inference_max_seq_length


def _training_args(config: TrainConfig, output_dir: str, **overrides: Any) -> Any:
    """``SentenceTransformerTrainingArguments`` for ``config`` (batch, optimiser, schedule, sampler, seeds);
    ``overrides`` set what differs between a monitored run and a bare one (evaluation, saving, logging)."""
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    kw = dict(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=float(config.warmup_ratio),  # a float < 1 is a ratio in transformers v5
        weight_decay=config.weight_decay,
        batch_sampler=config.batch_sampler,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        bf16=resolve_precision(config.precision) == "bf16",
    )
    return SentenceTransformerTrainingArguments(**{**kw, **overrides})


def _job_fingerprint(base_model: Any, ds: Any, config: TrainConfig) -> str:
    """SHA-256 of what defines a training job: base model, every training row, the configuration."""
    rows = ("\x1f".join(map(str, row)) + "\x1e" for row in zip(*(ds[c] for c in ds.column_names)))
    return sha256_parts(chain(
        [model_fingerprint(base_model), json.dumps(config.model_dump(), sort_keys=True, default=str),
         resolve_precision(config.precision)],   # "auto" differs between machines
        rows,
    ))


_ELAPSED = "elapsed.json"   # per checkpoint: training wall seconds of all steps up to it (across resumes)


def _elapsed_ledger(prior_seconds: float):
    """A ``TrainerCallback`` that writes, into each checkpoint it saves, the training wall seconds of all
    steps so far (``prior_seconds`` of the run it resumed + this call's), so that a resumed job still
    reports the time and throughput of every step it trained, not only of the steps after the resume."""
    from transformers import TrainerCallback

    class ElapsedLedger(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                seconds = prior_seconds + time.perf_counter() - self.t0
                (ckpt / _ELAPSED).write_text(json.dumps({"step": state.global_step, "seconds": seconds}))

    return ElapsedLedger()


def _last_checkpoint(out: Path) -> str | None:
    cps = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return str(cps[-1]) if cps else None


def train(
    base_model: Any,
    pairs: pd.DataFrame,
    work_dir: str | Path,
    config: TrainConfig,
    *,
    evaluator: Any = None,
    callbacks: list[Any] | None = None,
    resume: bool = True,
) -> TrainResult:
    """Fine-tune ``base_model`` on ``pairs`` and save the final (best) model to ``work_dir/final``.

    Args:
        base_model: production checkpoint (name, path or SentenceTransformer).
        pairs: columns ``query``, ``positive`` and, when ``config.num_negatives > 0``,
            ``negative_1 .. negative_n`` (rows missing a negative are dropped).
        work_dir: checkpoints go to ``work_dir/checkpoints`` (resumed from the last one when
            ``resume`` and one exists, e.g. after an interruption), the model to ``work_dir/final``.
            A resume needs the same job: ``checkpoints/job.json`` holds a SHA-256 of the base
            model, every training row and the configuration, and checkpoints written by another
            job are deleted instead of resumed.
        evaluator: a sentence-transformers evaluator run every ``eval_steps`` (early stopping on
            its nDCG@10 when ``early_stopping_patience``). The saved model is the one of the last step
            unless an earlier checkpoint scored at least ``config.best_min_delta`` nDCG@10 higher: a
            small dev subset is noisy, and an argmax over it can pick a half-trained checkpoint by 1e-4.

    Returns:
        :class:`TrainResult` with the per-step history and throughput (training examples / s over all
        the job's steps, across resumes).

    Raises:
        ValueError: no usable training rows, or unknown loss / batch sampler.
    """
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import EarlyStoppingCallback, set_seed

    set_seed(config.seed)
    work = Path(work_dir)
    ckpt_dir = work / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    pairs = _usable_rows(pairs, config)
    if pairs.empty:
        raise ValueError("no training rows left (empty pairs, or no anchor had the required hard negatives)")
    budget = None
    if config.budget_seconds and config.max_steps < 0:
        config, budget = plan_budget(base_model, pairs, config)
    model, inference_max_seq_length = _prepare_model(base_model, config)
    loss = _make_loss(model, config)
    ds = _train_dataset(pairs, config.num_negatives)
    do_eval = evaluator is not None
    metric = None
    if do_eval:
        metric = f"eval_{evaluator.name}_cosine_ndcg@10" if evaluator.name else "eval_cosine_ndcg@10"
    args = _training_args(
        config, str(ckpt_dir),
        per_device_eval_batch_size=128,
        eval_strategy="steps" if do_eval else "no",
        eval_steps=config.eval_steps if do_eval else None,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=do_eval,
        metric_for_best_model=metric,
        greater_is_better=True,
        logging_steps=config.logging_steps,
        disable_tqdm=False,
    )
    # checkpoints are only resumed by the same job: same base model, training rows and configuration
    job = _job_fingerprint(base_model, ds, config)
    job_file = ckpt_dir / "job.json"
    previous = json.loads(job_file.read_text()).get("job") if job_file.exists() else None
    if previous != job and any(ckpt_dir.iterdir()):
        log.info("checkpoints in %s belong to another training job; starting fresh", ckpt_dir)
        for old in ckpt_dir.iterdir():
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    job_file.write_text(json.dumps({"job": job, "config": config.model_dump()}, indent=1, default=str))
    resume_from = _last_checkpoint(ckpt_dir) if resume else None
    # steps already trained and their wall time (None: a checkpoint written without the ledger)
    start_step, prior_seconds = 0, 0.0
    if resume_from:
        log.info("resuming training from %s", resume_from)
        ledger = Path(resume_from) / _ELAPSED
        if ledger.exists():
            prior_seconds = float(json.loads(ledger.read_text())["seconds"])
        else:
            start_step = int(Path(resume_from).name.split("-")[-1])
    cbs = [*(callbacks or []), _elapsed_ledger(prior_seconds)]
    if do_eval and config.early_stopping_patience:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=ds, loss=loss, evaluator=evaluator, callbacks=cbs
    )
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    secs = prior_seconds + time.perf_counter() - t0
    final = work / "final"
    from discovery_pipelines.data.io import atomic_path

    out_model, selected_step, selection = _select_model(trainer, metric, config.best_min_delta)
    # the training truncation is a speed knob only: the saved model encodes with the production length
    out_model.max_seq_length = inference_max_seq_length
    with atomic_path(final) as tmp:
        out_model.save_pretrained(str(tmp))
    history = [dict(h) for h in trainer.state.log_history]
    steps_done = trainer.state.global_step
    examples = min(len(ds), steps_done * config.batch_size) if config.max_steps < 0 else steps_done * config.batch_size
    examples -= min(examples, start_step * config.batch_size)   # steps whose time is unknown are not counted
    res = TrainResult(final, history, secs, int(examples), examples / secs if secs > 0 else 0.0, resume_from,
                      trainer.state.best_metric, selected_step, selection, budget)
    (work / "train_result.json").write_text(json.dumps({k: (str(v) if isinstance(v, Path) else v)
                                                         for k, v in res.__dict__.items()}, default=str, indent=1))
    return res


def plan_budget(base_model: Any, pairs: pd.DataFrame, config: TrainConfig,
                probe_steps: int = 2) -> tuple[TrainConfig, dict[str, Any]]:
    """Fit ``config`` to its ``budget_seconds``: measure seconds per step with sentence-transformers' bare
    trainer (:func:`bare_trainer_throughput`, ``probe_steps`` steps) at fp32 and bf16 where bf16 is native,
    keep the faster precision (:func:`discovery_pipelines.finetune.budget.choose_precision`) and cap
    ``max_steps`` at ``budget / seconds_per_step`` when one pass over ``pairs`` would not fit.

    Returns:
        ``(config with precision and max_steps set, plan)``; ``plan`` holds the CPU, the probe figures, the
        chosen precision and the steps (logged, and reported in the training summary).
    """
    import math

    from discovery_pipelines.finetune.budget import choose_precision, plan_steps

    def probe(p: str) -> float:
        r = bare_trainer_throughput(base_model, pairs, config.model_copy(update={"precision": p}), probe_steps)
        return r["seconds"] / max(r["steps"], 1)

    prec = choose_precision(config.precision, probe, "training")
    full = max(1, math.ceil(len(_usable_rows(pairs, config)) * config.epochs / config.batch_size))
    plan = plan_steps(full, prec["seconds_per_step"], config.budget_seconds)
    log.info("training: %d of %d steps at %s (%s)", plan["steps"], full, prec["precision"], plan["reason"])
    steps = plan["steps"] if plan["steps"] < full else -1
    return config.model_copy(update={"precision": prec["precision"], "max_steps": steps}), {**plan, "precision": prec}


def _select_model(trainer: Any, metric: str | None, min_delta: float) -> tuple[Any, int, str]:
    """The model to save after training: ``(model, step, reason)``.

    Without an evaluator it is the last step's model. With one, transformers' trainer has loaded the
    checkpoint with the best ``metric`` (``load_best_model_at_end``); we keep it only if it beats the last
    evaluation by at least ``min_delta``, else we reload the last step's checkpoint.
    """
    state = trainer.state
    last = state.global_step
    evals = [h for h in state.log_history if metric and metric in h]
    best_ckpt = state.best_model_checkpoint
    if not evals or best_ckpt is None or state.best_metric is None:
        return trainer.model, last, "last step (no evaluation)"
    best_step = int(Path(best_ckpt).name.split("-")[-1])
    final_eval = evals[-1]
    final_path = Path(trainer.args.output_dir) / f"checkpoint-{final_eval['step']}"
    gain = float(state.best_metric) - float(final_eval[metric])
    if best_step == final_eval["step"]:
        return trainer.model, best_step, "best = last evaluated step"
    if gain >= min_delta or not final_path.is_dir():
        return trainer.model, best_step, f"best checkpoint (+{gain:.4f} over step {final_eval['step']})"
    return (load_model(str(final_path)), int(final_eval["step"]),
            f"last evaluated step (best step {best_step} only +{gain:.4f} < {min_delta})")


def bare_trainer_throughput(base_model: Any, pairs: pd.DataFrame, config: TrainConfig, steps: int = 16) -> dict[str, Any]:
    """Training examples / s of sentence-transformers' own trainer alone on the same rows and settings.

    Same loss, batch size, batch sampler, truncation and learning-rate schedule as :func:`train`, but
    no evaluator, no checkpoints, no callbacks and no resume bookkeeping: the yardstick for the overhead
    our training node adds. Runs ``steps`` optimisation steps (``steps * batch_size`` examples from the
    head of ``pairs``) on a throw-away copy of the model, in a temporary folder.

    Returns:
        ``{"steps", "examples", "seconds", "examples_per_second"}``.

    Raises:
        ValueError: fewer rows than one batch.
    """
    import tempfile

    from sentence_transformers import SentenceTransformerTrainer
    from transformers import set_seed

    rows = _usable_rows(pairs, config).head(max(steps, 1) * config.batch_size * 2)
    if len(rows) < config.batch_size:
        raise ValueError(f"{len(rows)} training rows, fewer than one batch of {config.batch_size}")
    set_seed(config.seed)
    model, _ = _prepare_model(base_model, config)
    with tempfile.TemporaryDirectory(prefix="st-bare-") as tmp:
        args = _training_args(config, tmp, max_steps=int(steps), eval_strategy="no", save_strategy="no",
                              logging_strategy="no", disable_tqdm=True)
        trainer = SentenceTransformerTrainer(model=model, args=args,
                                             train_dataset=_train_dataset(rows, config.num_negatives),
                                             loss=_make_loss(model, config))
        t0 = time.perf_counter()
        trainer.train()
        secs = time.perf_counter() - t0
    examples = int(trainer.state.global_step) * config.batch_size
    return {"steps": int(trainer.state.global_step), "examples": examples, "seconds": secs,
            "examples_per_second": examples / secs if secs > 0 else 0.0}
