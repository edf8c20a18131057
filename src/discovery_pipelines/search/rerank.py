"""Second-stage re-ranking with a cross-encoder (Nogueira & Cho 2019, "Passage Re-ranking with BERT").

A cross-encoder reads ``[CLS] query [SEP] product title [SEP]`` and outputs one relevance logit; it is
far slower than a bi-encoder (one transformer pass per pair), so it only re-orders the top ``top_n``
candidates of a first-stage run (hybrid top-N -> cross-encoder). The project's teacher
(:mod:`discovery_pipelines.finetune.teacher`) is such a model, saved as a sentence-transformers
``CrossEncoder`` folder.
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


def rerank_run(model: Any, query_texts: Sequence[str], run: Run, doc_text: Mapping[str, str], *,
               top_n: int = 50, k: int = 100, batch_size: int = 64, precision: str | None = None,
               show_progress: bool = True) -> Run:
    """Re-order each query's top ``top_n`` products by cross-encoder score; ranks below ``top_n`` keep
    their first-stage order (scored below every re-ranked product).

    Args:
        query_texts: one text per run row.
        run: first-stage ``(ids (nq, depth), scores)``.
        doc_text: ``{product_id: text}`` fed to the cross-encoder (the title).
        top_n: candidates re-scored per query; k: depth of the returned run.

    Returns:
        ``(ids (nq, k) object, scores (nq, k) float32)``: re-ranked products carry their logits, the
        rest ``min logit - 1 - rank / depth``.
    """
    ids, _ = run
    nq, depth = ids.shape
    q_rows, pairs_q, pairs_d, pids = [], [], [], []
    for qi in range(nq):
        for pid in ids[qi, :top_n]:
            if pid is not None:
                q_rows.append(qi)
                pairs_q.append(query_texts[qi])
                pairs_d.append(doc_text[pid])
                pids.append(pid)
    logits = score_pairs(model, pairs_q, pairs_d, batch_size=batch_size, precision=precision,
                         show_progress=show_progress)
    out_ids = np.full((nq, k), None, dtype=object)
    out_sc = np.zeros((nq, k), dtype=np.float32)
    by_q: dict[int, list[tuple[str, float]]] = {}
    for qi, pid, s in zip(q_rows, pids, logits):
        by_q.setdefault(qi, []).append((pid, float(s)))
    for qi in range(nq):
        head = by_q.get(qi, [])
        ranked = order_by_logits([p for p, _ in head], [s for _, s in head],
                                 [p for p in ids[qi, top_n:] if p is not None])
        for j, (pid, s) in enumerate(ranked[:k]):
            out_ids[qi, j] = pid
            out_sc[qi, j] = s
    return out_ids, out_sc


def order_by_logits(head: Sequence[Any], logits: Sequence[float], tail: Sequence[Any]) -> list[tuple[Any, float]]:
    """``head`` sorted by descending cross-encoder logit (stable), then ``tail`` in its first-stage order
    with scores ``min logit - 1 - rank / len(tail)`` (below every re-ranked item, still descending)."""
    ranked = sorted(zip(head, (float(x) for x in logits)), key=lambda t: -t[1])
    floor = min((s for _, s in ranked), default=0.0) - 1.0
    return ranked + [(p, floor - r / max(len(tail), 1)) for r, p in enumerate(tail)]


def default_reranker_dir() -> Path:
    """``$DISCOVERY_RERANKER_DIR`` or ``data/06_models/teacher`` (where the finetune run saves its teacher)."""
    return Path(os.environ.get("DISCOVERY_RERANKER_DIR", "data/06_models/teacher"))
