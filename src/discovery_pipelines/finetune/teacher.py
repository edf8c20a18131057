"""The cross-encoder teacher: trained on train-split graded qrels, then used to re-rank and to label.

Model: a sentence-transformers ``CrossEncoder`` (``BertForSequenceClassification``, one logit) initialised
from the packaged all-MiniLM-L6-v2 encoder weights; the classification head is new (no cross-encoder
weights are packaged here).

Training examples (:func:`teacher_examples`), train split only (dev / holdout queries never seen):

* every judged (query, product) pair with the soft label ``gain / max_gain`` (Home Depot: relevance
  1..3 -> 0.33 .. 1.0), so the teacher learns the graded scale of the human labels;
* ``negatives_per_query`` retriever negatives per query with label 0: products the first-stage retriever
  ranks in its top ``candidates`` for that query that are not judged for it (the candidates the served
  re-ranker must push down). Some may be unjudged relevant products (false negatives); sampling them
  from the whole top-k, not only the top ranks, keeps that share small (Qu et al. 2021, RocketQA).

Loss: binary cross-entropy on the logit with those soft labels (pointwise; sentence-transformers'
``BinaryCrossEntropyLoss``), the standard MS MARCO cross-encoder recipe (Nogueira & Cho 2019).

Budget: on a CPU the number of optimisation steps is capped so that training fits ``budget_seconds``
at the throughput measured by a short probe (see :func:`discovery_pipelines.finetune.budget.plan_steps`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.data.io import atomic_path
from discovery_pipelines.data.params import Params, validate
from discovery_pipelines.search.models import resolve_model_path
from discovery_pipelines.search.precision import resolve_precision

log = logging.getLogger(__name__)


class TeacherConfig(Params):
    """Cross-encoder training hyper-parameters (defaults: ``conf/base/parameters_quality.yml``); unknown keys
    are errors (:class:`~discovery_pipelines.data.params.Params`)."""

    negatives_per_query: int = 3        # retriever negatives (label 0) per train query
    candidates: int = 50                # top-k of the retriever the negatives are drawn from
    max_queries: int | None = None      # cap on train queries (seeded sample; None = all)
    batch_size: int = 32
    learning_rate: float = 7e-5
    epochs: float = 1.0
    max_steps: int = -1                 # -1: one pass over the examples, then capped by the budget
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 64                # tokens of query + title
    budget_seconds: float | None = None  # wall-clock cap on training (CPU default); None = no cap
    precision: str = "auto"
    seed: int = 13

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "TeacherConfig":
        """Validated from a parameter mapping (:func:`discovery_pipelines.data.params.validate`)."""
        return validate(cls, d, "quality.teacher.train")


def teacher_examples(queries: pd.DataFrame, qrels: pd.DataFrame, products: pd.DataFrame,
                     candidates: Mapping[str, Sequence[str]], config: TeacherConfig) -> pd.DataFrame:
    """(query, document, label) rows for the teacher: judged pairs of ``queries`` (soft labels) plus
    ``config.negatives_per_query`` unjudged retriever candidates per query (label 0).

    Args:
        queries: the train-split queries (``query_id``, ``text``).
        qrels: contract qrels (only rows of ``queries`` are used).
        products: contract products (``product_id``, ``title``).
        candidates: ``{query_id: [product_id, ...]}`` first-stage top-k of each query.

    Returns:
        DataFrame ``query_id, query, product_id, document, label (float32 in [0, 1]), source``
        (``judged`` / ``negative``), shuffled with ``config.seed``.

    Raises:
        ValueError: no judged pair for ``queries``, or a non-positive maximum gain.
    """
    rng = np.random.default_rng(config.seed)
    q = queries[["query_id", "text"]].drop_duplicates("query_id")
    if config.max_queries is not None and len(q) > config.max_queries:
        q = q.sample(n=int(config.max_queries), random_state=config.seed)
    r = qrels[qrels["query_id"].isin(set(q["query_id"]))]
    if r.empty:
        raise ValueError("teacher_examples: no judged pair for the given (train) queries")
    max_gain = float(r["gain"].max())
    if max_gain <= 0:
        raise ValueError(f"teacher_examples: maximum gain is {max_gain}; labels need a positive scale")
    title = dict(zip(products["product_id"].astype(str), products["title"].astype(str)))
    text = dict(zip(q["query_id"].astype(str), q["text"].astype(str)))
    judged: dict[str, set[str]] = {}
    rows = []
    for qid, pid, g in zip(r["query_id"].astype(str), r["product_id"].astype(str), r["gain"].astype(float)):
        judged.setdefault(qid, set()).add(pid)
        if pid in title:
            rows.append((qid, text[qid], pid, title[pid], g / max_gain, "judged"))
    for qid in text:
        pool = [p for p in list(candidates.get(qid, []))[: config.candidates]
                if p is not None and p not in judged.get(qid, set()) and p in title]
        if not pool:
            continue
        take = rng.choice(len(pool), size=min(config.negatives_per_query, len(pool)), replace=False)
        rows.extend((qid, text[qid], pool[i], title[pool[i]], 0.0, "negative") for i in sorted(take))
    df = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "document", "label", "source"])
    df["label"] = df["label"].astype(np.float32)
    return df.sample(frac=1.0, random_state=config.seed).reset_index(drop=True)


def _time_budget_callback(budget_seconds: float):
    """Stops training once ``budget_seconds`` of wall time have passed (a safety net on top of the
    planned ``max_steps``: another process taking the cores slows every step)."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if time.perf_counter() - self.t0 > budget_seconds:
                log.warning("teacher: time budget of %.0f s spent at step %d of %d; stopping",
                            budget_seconds, state.global_step, state.max_steps)
                control.should_training_stop = True

    return TimeBudget()


def _new_cross_encoder(base_model: Any, config: TeacherConfig) -> Any:
    from sentence_transformers.cross_encoder import CrossEncoder

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return CrossEncoder(str(resolve_model_path(base_model)), num_labels=1, max_length=config.max_length,
                        device=device, local_files_only=True)


def _args(config: TeacherConfig, out: str, precision: str, max_steps: int, **kw: Any) -> Any:
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    base = dict(output_dir=out, num_train_epochs=config.epochs, max_steps=max_steps,
                per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
                warmup_steps=float(config.warmup_ratio), weight_decay=config.weight_decay, seed=config.seed,
                data_seed=config.seed, report_to="none", dataloader_num_workers=0,
                use_cpu=not torch.cuda.is_available(), bf16=precision == "bf16", save_strategy="no",
                eval_strategy="no")
    return CrossEncoderTrainingArguments(**{**base, **kw})


def _dataset(examples: pd.DataFrame):
    from datasets import Dataset

    return Dataset.from_dict({"query": examples["query"].tolist(), "document": examples["document"].tolist(),
                              "label": examples["label"].astype(float).tolist()})


def probe_seconds_per_step(base_model: Any, examples: pd.DataFrame, config: TeacherConfig, precision: str,
                           steps: int = 2) -> float:
    """Wall seconds per optimisation step of the teacher's training at ``precision`` (a throw-away model,
    ``steps`` steps after one warm-up step)."""
    import tempfile

    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    rows = examples.head((steps + 1) * config.batch_size)
    model = _new_cross_encoder(base_model, config)
    with tempfile.TemporaryDirectory(prefix="teacher-probe-") as tmp:
        trainer = CrossEncoderTrainer(model=model, args=_args(config, tmp, precision, steps + 1, logging_strategy="no",
                                                              disable_tqdm=True),
                                      train_dataset=_dataset(rows), loss=BinaryCrossEntropyLoss(model))
        times: list[float] = []

        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                times.append(time.perf_counter())

        trainer.add_callback(Clock())
        trainer.train()
    return (times[-1] - times[0]) / max(len(times) - 1, 1)


@dataclass
class TeacherResult:
    model_dir: Path
    examples: int
    steps: int
    planned_steps: int
    train_seconds: float
    examples_per_second: float
    precision: str
    budget: dict[str, Any]
    history: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_dir"] = str(self.model_dir)
        return d


def train_teacher(base_model: Any, examples: pd.DataFrame, out_dir: str | Path, config: TeacherConfig,
                  *, seconds_per_step: float | None = None) -> TeacherResult:
    """Train the cross-encoder on ``examples`` (:func:`teacher_examples`) and save it to ``out_dir``
    (atomically).

    Args:
        seconds_per_step: measured step time; with ``config.budget_seconds`` it caps the steps at
            ``budget / seconds_per_step`` (the learning-rate schedule then ends at the last planned step).

    Returns:
        :class:`TeacherResult` (steps, throughput in training pairs / s, precision used, budget plan).

    Raises:
        ValueError: no examples.
    """
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    from discovery_pipelines.finetune.budget import plan_steps

    if examples.empty:
        raise ValueError("train_teacher: no training examples")
    set_seed(config.seed)
    precision = resolve_precision(config.precision)
    full_steps = config.max_steps if config.max_steps > 0 else int(np.ceil(len(examples) * config.epochs / config.batch_size))
    budget = plan_steps(full_steps, seconds_per_step, config.budget_seconds)
    steps = int(budget["steps"])
    log.info("teacher: %d examples, %d of %d steps (%s), precision %s", len(examples), steps, full_steps,
             budget["reason"], precision)
    model = _new_cross_encoder(base_model, config)
    out = Path(out_dir)
    work = out.parent / f".{out.name}-work"
    cbs = [_time_budget_callback(float(config.budget_seconds) * 1.25)] if config.budget_seconds else []
    trainer = CrossEncoderTrainer(model=model, args=_args(config, str(work), precision, steps, logging_steps=20),
                                  train_dataset=_dataset(examples), loss=BinaryCrossEntropyLoss(model), callbacks=cbs)
    t0 = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - t0
    with atomic_path(out) as tmp:
        model.save_pretrained(str(tmp))
    done = int(trainer.state.global_step)
    n = done * config.batch_size
    history = [dict(h) for h in trainer.state.log_history if "loss" in h]
    return TeacherResult(out, min(n, len(examples) * int(np.ceil(config.epochs))), done, steps, secs,
                         n / secs if secs > 0 else 0.0, precision, budget, history)


def expand_labels(model: Any, query_text: Mapping[str, str], candidates: Mapping[str, Sequence[str]],
                  doc_text: Mapping[str, str], *, exclude: set[tuple[str, str]] | None = None, top_k: int = 10,
                  positive_prob: float = 0.6, negative_prob: float = 0.1, batch_size: int = 64,
                  precision: str | None = None, source: str = "train") -> pd.DataFrame:
    """Label expansion (DashCLIP-style: a teacher trained on human labels labels many more pairs): the
    teacher scores each query's first ``top_k`` retriever candidates that are not in ``exclude`` (the pairs
    humans already judged).

    Args:
        query_text: ``{query_id: text}``; candidates: ``{query_id: [product_id, ...]}`` (retriever top-k).
        positive_prob / negative_prob: on the teacher's probability ``sigmoid(logit)`` (its training labels are
            ``gain / max_gain``, so 0.6 sits near Home Depot's gain 2): above -> ``teacher_positive`` (a new
            training pair), below -> ``teacher_negative`` (a hard negative the teacher confirms is not
            relevant), between -> ``uncertain``.

    Returns:
        DataFrame ``query_id, query, product_id, rank, teacher_logit, teacher_prob, teacher_label, source``.
    """
    from discovery_pipelines.search.rerank import score_pairs

    exclude = exclude or set()
    rows = [(q, query_text[q], p, r + 1) for q in query_text for r, p in enumerate(list(candidates.get(q, []))[:top_k])
            if p is not None and p in doc_text and (q, p) not in exclude]
    df = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "rank"])
    logits = score_pairs(model, df["query"].tolist(), [doc_text[p] for p in df["product_id"]],
                         batch_size=batch_size, precision=precision)
    prob = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    df["teacher_logit"] = logits
    df["teacher_prob"] = prob.astype(np.float32)
    df["teacher_label"] = np.where(prob >= positive_prob, "teacher_positive",
                                   np.where(prob <= negative_prob, "teacher_negative", "uncertain"))
    df["source"] = source
    return df
