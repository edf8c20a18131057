"""Second-stage re-ranking with a cross-encoder (Nogueira & Cho 2019, "Passage Re-ranking with BERT").

A cross-encoder reads ``[CLS] query [SEP] product title [SEP]`` and outputs one relevance logit; it is
far slower than a bi-encoder (one transformer pass per pair), so it only re-orders the top ``top_n``
candidates of a first-stage run (hybrid top-N -> cross-encoder). The project's teacher
(:mod:`discovery_pipelines.finetune.teacher`) is such a model, saved as a sentence-transformers
``CrossEncoder`` folder.

**Interpolation** with the first stage (:func:`interpolate`): the head is ordered by
``(1 - w) * minmax(logit) + w * minmax(first-stage score)`` within each query, ``w`` the first-stage weight
(``0`` = the cross-encoder alone). A re-ranker trained briefly is noisier than the fused first stage it
re-orders; interpolating the two is the standard remedy (Wang, Zhuang & Zuccon 2021, "BERT-based Dense
Retrievers Require Interpolation with BM25 for Effective Passage Retrieval"; Lin, Nogueira & Yates 2021,
*Pretrained Transformers for Text Ranking*, sec. 3.2). ``w`` is chosen on dev by the quality stage and
recorded in the index manifest (``reranker.first_stage_weight``), which the search service applies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from discovery_pipelines.data.io import sha256_parts
from discovery_pipelines.search.precision import autocast, resolve_precision
from discovery_pipelines.search.retrieval import Run


def load_cross_encoder(model: Any, device: str | None = None, max_length: int | None = None) -> Any:
    """A sentence-transformers ``CrossEncoder`` from a folder (or an already-loaded one, returned as is).

    Raises:
        FileNotFoundError: ``model`` is not an existing folder.
    """
    from sentence_transformers import CrossEncoder

    if isinstance(model, CrossEncoder):
        return model
    p = Path(model)
    if not p.is_dir():
        raise FileNotFoundError(f"cross-encoder {str(model)!r} is not a local folder")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return CrossEncoder(str(p), device=device, local_files_only=True, max_length=max_length)


def cross_encoder_fingerprint(model: Any) -> str:
    """SHA-256 of a loaded cross-encoder's weights (hex): identifies a teacher in manifests and caches."""
    return sha256_parts(part for name, t in sorted(model.state_dict().items())
                        for part in (name.encode(), t.detach().cpu().contiguous().numpy().tobytes()))


def score_pairs(model: Any, queries: Sequence[str], docs: Sequence[str], *, batch_size: int = 64,
                precision: str | None = None, show_progress: bool = False) -> np.ndarray:
    """Cross-encoder logits, float32 ``(n,)``, one per (query, doc) pair (higher = more relevant).

    ``precision``: ``fp32`` / ``bf16`` / ``auto`` (:func:`discovery_pipelines.search.precision.resolve_precision`).

    Raises:
        ValueError: ``queries`` and ``docs`` differ in length.
    """
    if len(queries) != len(docs):
        raise ValueError(f"score_pairs: {len(queries)} queries vs {len(docs)} docs")
    if not len(queries):
        return np.zeros(0, dtype=np.float32)
    import torch

    ce = load_cross_encoder(model)
    with autocast(resolve_precision(precision), device_type=ce.device.type):
        s = ce.predict(list(zip(queries, docs)), batch_size=batch_size, show_progress_bar=show_progress,
                       convert_to_numpy=True, activation_fn=torch.nn.Identity())
    return np.asarray(s, dtype=np.float32).reshape(-1)


def head_logits(model: Any, query_texts: Sequence[str], run: Run, doc_text: Mapping[str, str], *,
                top_n: int = 50, batch_size: int = 64, precision: str | None = None,
                show_progress: bool = True) -> list[np.ndarray]:
    """Cross-encoder logits of each query's first ``top_n`` products of ``run`` (``None`` ids skipped):
    one float32 array per run row, in run order (``len <= top_n``)."""
    ids, _ = run
    q_rows, pairs_q, pairs_d = [], [], []
    for qi in range(ids.shape[0]):
        for pid in ids[qi, :top_n]:
            if pid is not None:
                q_rows.append(qi)
                pairs_q.append(query_texts[qi])
                pairs_d.append(doc_text[pid])
    logits = score_pairs(model, pairs_q, pairs_d, batch_size=batch_size, precision=precision,
                         show_progress=show_progress)
    counts = np.bincount(np.asarray(q_rows, dtype=np.int64), minlength=ids.shape[0])
    return list(np.split(logits, np.cumsum(counts)[:-1]))


def apply_rerank(run: Run, logits: Sequence[np.ndarray], *, top_n: int, k: int = 100,
                 first_stage_weight: float = 0.0) -> Run:
    """The re-ranked run from :func:`head_logits`' output: each query's head ordered by its logits
    interpolated with the first-stage scores (:func:`interpolate`), then the rest in first-stage order.

    Returns:
        ``(ids (nq, k) object, scores (nq, k) float32)``: re-ranked products carry their (interpolated)
        scores, the rest ``min score - 1 - rank / depth`` (:func:`order_by_logits`).
    """
    ids, scores = run
    nq = ids.shape[0]
    out_ids = np.full((nq, k), None, dtype=object)
    out_sc = np.zeros((nq, k), dtype=np.float32)
    for qi in range(nq):
        keep = [j for j, p in enumerate(ids[qi, :top_n]) if p is not None]
        head = [ids[qi, j] for j in keep]
        s = interpolate(logits[qi], np.asarray(scores[qi, keep], dtype=np.float64), first_stage_weight)
        ranked = order_by_logits(head, s, [p for p in ids[qi, top_n:] if p is not None])
        for j, (pid, v) in enumerate(ranked[:k]):
            out_ids[qi, j] = pid
            out_sc[qi, j] = v
    return out_ids, out_sc


def rerank_run(model: Any, query_texts: Sequence[str], run: Run, doc_text: Mapping[str, str], *,
               top_n: int = 50, k: int = 100, batch_size: int = 64, precision: str | None = None,
               show_progress: bool = True, first_stage_weight: float = 0.0) -> Run:
    """Re-order each query's top ``top_n`` products by cross-encoder score (interpolated with the
    first-stage score by ``first_stage_weight``, see module doc); ranks below ``top_n`` keep their
    first-stage order (scored below every re-ranked product).

    Args:
        query_texts: one text per run row.
        run: first-stage ``(ids (nq, depth), scores)``.
        doc_text: ``{product_id: text}`` fed to the cross-encoder (the title).
        top_n: candidates re-scored per query; k: depth of the returned run.

    Returns:
        ``(ids (nq, k) object, scores (nq, k) float32)`` (:func:`apply_rerank`).
    """
    logits = head_logits(model, query_texts, run, doc_text, top_n=top_n, batch_size=batch_size,
                         precision=precision, show_progress=show_progress)
    return apply_rerank(run, logits, top_n=top_n, k=k, first_stage_weight=first_stage_weight)


def interpolate(logits: Sequence[float], first_stage: Sequence[float], weight: float) -> np.ndarray:
    """``(1 - weight) * minmax(logits) + weight * minmax(first_stage)`` over one query's head, float64
    ``(n,)``; ``weight == 0`` returns the logits unchanged (float64). A constant input normalises to 0.

    Raises:
        ValueError: ``weight`` outside [0, 1] or the two inputs differ in length.
    """
    lg = np.asarray(logits, dtype=np.float64)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"first_stage_weight must be in [0, 1], got {weight}")
    if weight == 0.0:
        return lg
    fs = np.asarray(first_stage, dtype=np.float64)
    if fs.shape != lg.shape:
        raise ValueError(f"interpolate: {lg.shape} logits vs {fs.shape} first-stage scores")

    def mm(x: np.ndarray) -> np.ndarray:
        span = x.max() - x.min() if len(x) else 0.0
        return (x - x.min()) / span if span > 0 else np.zeros_like(x)
    return (1.0 - weight) * mm(lg) + weight * mm(fs)


def order_by_logits(head: Sequence[Any], logits: Sequence[float], tail: Sequence[Any]) -> list[tuple[Any, float]]:
    """``head`` sorted by descending cross-encoder logit (stable), then ``tail`` in its first-stage order
    with scores ``min logit - 1 - rank / len(tail)`` (below every re-ranked item, still descending)."""
    ranked = sorted(zip(head, (float(x) for x in logits)), key=lambda t: -t[1])
    floor = min((s for _, s in ranked), default=0.0) - 1.0
    return ranked + [(p, floor - r / max(len(tail), 1)) for r, p in enumerate(tail)]


def default_reranker_dir() -> Path:
    """``$DISCOVERY_RERANKER_DIR`` or ``data/06_models/teacher`` (where the finetune run saves its teacher)."""
    return Path(os.environ.get("DISCOVERY_RERANKER_DIR", "data/06_models/teacher"))
