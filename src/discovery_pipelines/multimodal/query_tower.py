"""Stage 2: the query tower, a sentence-transformers model trained into the frozen product space with QCC.

The tower is the project's text model (all-MiniLM-L6-v2) followed by a ``Dense`` layer to the
product space's ``dim`` and a ``Normalize`` layer, so it is a plain ``SentenceTransformer``: the
index export, ``discovery search`` / ``serve`` and ``SearchService`` use it as they use the text
model. The ``Dense`` layer starts as the product tower's text projection, so before training a query
already lands where its words would as a listing title. Training minimises
:func:`discovery_pipelines.finetune.losses.qcc_loss` between query vectors and **frozen** product
vectors of train listings (photos only or fused with the title, at random), with positives = every
listing whose fine class the query names (several classes for a coarse query such as "apple").
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.finetune.losses import qcc_loss
from discovery_pipelines.multimodal.params import QueryTowerParams as QueryTowerConfig
from discovery_pipelines.search.models import load_model

log = logging.getLogger(__name__)


def build_query_tower(base_model: Any, text_proj_weight: np.ndarray, text_proj_bias: np.ndarray, *,
                      device: str | None = None) -> Any:
    """``SentenceTransformer`` = ``base_model``'s modules + ``Dense(text_dim -> dim)`` initialised from
    the product tower's text projection + ``Normalize``.

    Raises:
        ValueError: the projection's input size is not the base model's embedding size.
    """
    import torch
    from sentence_transformers import SentenceTransformer, models

    base = load_model(base_model, device=device)
    d_in = (getattr(base, "get_embedding_dimension", None) or base.get_sentence_embedding_dimension)()
    w = np.asarray(text_proj_weight, np.float32)
    if w.shape[1] != d_in:
        raise ValueError(f"text projection expects {w.shape[1]}-d inputs, base model gives {d_in}")
    mods = [m for m in base if not isinstance(m, models.Normalize)]
    dense = models.Dense(in_features=d_in, out_features=w.shape[0], bias=True,
                         activation_function=torch.nn.Identity())
    with torch.no_grad():
        dense.linear.weight.copy_(torch.from_numpy(w))
        dense.linear.bias.copy_(torch.from_numpy(np.asarray(text_proj_bias, np.float32)))
    return SentenceTransformer(modules=[*mods, dense, models.Normalize()], device=str(base.device))


def train_query_tower(tower: Any, pairs: pd.DataFrame, product_vecs: np.ndarray, product_fine: np.ndarray,
                      config: QueryTowerConfig, *, show_progress: bool = True) -> tuple[Any, list[dict[str, float]]]:
    """Train ``tower`` in place with QCC (module doc).

    Args:
        pairs: ``query``, ``fine_class_id`` (one row per (query, class) it is relevant to).
        product_vecs: frozen ``(2, N, dim)`` vectors of the N train listings: ``[0]`` photo only,
            ``[1]`` photo fused with the class title; product_fine: ``(N,)`` their fine classes.

    Returns:
        ``(tower, history)``: history rows ``epoch, step, loss, seconds, pairs_per_s``.

    Raises:
        ValueError: no pairs, or a pair's class has no train listing.
    """
    import torch
    from tqdm.auto import tqdm

    if pairs.empty:
        raise ValueError("train_query_tower: no training pairs")
    by_class = {int(c): np.flatnonzero(product_fine == c) for c in np.unique(product_fine)}
    lacking = sorted(set(pairs["fine_class_id"].astype(int)) - set(by_class))
    if lacking:
        raise ValueError(f"train_query_tower: classes {lacking[:5]} have no train listing")
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    classes_of = pairs.groupby("query")["fine_class_id"].apply(lambda s: set(s.astype(int))).to_dict()
    device = tower.device
    pv = torch.from_numpy(np.asarray(product_vecs, np.float32))
    pf = np.asarray(product_fine, dtype=np.int64)
    tower.max_seq_length = int(config.max_seq_length)
    head = [p for n, p in tower.named_parameters() if n.startswith(f"{len(tower) - 2}.")]
    head_ids = {id(p) for p in head}
    body = [p for p in tower.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW([{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_lr}],
                            weight_decay=0.01)
    queries = pairs["query"].astype(str).to_numpy()
    fines = pairs["fine_class_id"].astype(int).to_numpy()
    steps = int(np.ceil(len(pairs) / config.batch_size)) * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / max(steps, 1)))
    history: list[dict[str, float]] = []
    t0, step, seen = time.perf_counter(), 0, 0
    prep = getattr(tower, "preprocess", None) or tower.tokenize
    tower.train()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(pairs))
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"query tower epoch {epoch}",
                   disable=not show_progress, leave=False, mininterval=5.0)
        for s in bar:
            idx = order[s:s + config.batch_size]
            # one frozen positive per pair: a random train listing of its class, photo-only or fused
            pos_rows = np.array([rng.choice(by_class[int(c)]) for c in fines[idx]])
            view = rng.integers(0, 2, size=len(idx))
            neg_rows = rng.integers(0, pv.shape[1], size=int(config.catalog_negatives))
            neg_view = rng.integers(0, 2, size=len(neg_rows))
            prod = torch.cat([pv[view, pos_rows], pv[neg_view, neg_rows]]).to(device)
            prod_fine = np.concatenate([pf[pos_rows], pf[neg_rows]])
            allowed = [classes_of[q] for q in queries[idx]]
            mask = torch.tensor([[int(c) in a for c in prod_fine] for a in allowed], dtype=torch.bool)
            feats = prep(list(queries[idx]))
            feats = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in feats.items()}
            qv = tower(feats)["sentence_embedding"]
            loss = qcc_loss(qv, prod, scale=config.scale, symmetric=config.symmetric, positives=mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            seen += len(idx)
            if step % 5 == 0 or s + config.batch_size >= len(order):
                el = time.perf_counter() - t0
                history.append({"epoch": epoch, "step": step, "loss": float(loss), "seconds": el,
                                "pairs_per_s": seen / el})
    tower.eval()
    return tower, history
