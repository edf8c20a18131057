"""The query-catalog contrastive (QCC) loss of DashCLIP, as a sentence-transformers loss, and a small
QCC-vs-MNRL comparison on the text catalogue.

QCC (Gurjar et al., "DashCLIP: Leveraging multimodal models for generating semantic embeddings for
DoorDash", arXiv 2504.07110, section 3, stage 2): a query encoder ``f_q`` is trained into the
embedding space of a **frozen** product encoder ``f_p`` (the stage-1 catalogue model) from relevant
(query, product) pairs. For a batch of B pairs (q_i, p_i), optionally with M - B extra catalogue
products as negatives, u_i = f_q(q_i) / |f_q(q_i)|, v_j = f_p(p_j) / |f_p(p_j)| (no gradient into f_p)
and a scale s = 1 / tau:

    L_q2p = -1/B sum_i sum_j w_ij log( exp(s u_i.v_j) / sum_{m=1..M} exp(s u_i.v_m) )
    L_p2q = -1/B sum_j sum_i w'_ji log( exp(s v_j.u_i) / sum_{k=1..B} exp(s v_j.u_k) )
    L_QCC = (L_q2p + L_p2q) / 2        (``symmetric=True``; ``L_q2p`` alone otherwise)

with w_ij = P_ij / sum_j P_ij the target distribution over the positives P of query i (``P = I`` for
plain pairs; a pair sharing the product or the relevance group of another is then not its negative)
and w' the same over the columns. Unlike MNRL (Henderson et al. 2017), whose two sides share one
trainable encoder, QCC only moves the query side, so a catalogue index built once with ``f_p``
stays valid while the query encoder is retrained.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def qcc_loss(query_vecs: Any, product_vecs: Any, *, scale: float = 20.0, symmetric: bool = True,
             positives: Any = None) -> Any:
    """:math:`L_{QCC}` of the module doc (a scalar tensor).

    Args:
        query_vecs: ``(B, d)`` query embeddings (with gradient). product_vecs: ``(M, d)``, ``M >= B``,
            frozen product embeddings; row ``i < B`` is query ``i``'s positive, rows ``>= B`` are
            extra negatives. positives: optional bool ``(B, M)`` mask of every positive (must hold
            the diagonal); default the identity.

    Raises:
        ValueError: ``M < B``, dimensions differ, or a query without a positive.
    """
    import torch
    from torch.nn import functional as F

    b, m = query_vecs.shape[0], product_vecs.shape[0]
    if m < b or query_vecs.shape[1] != product_vecs.shape[1]:
        raise ValueError(f"qcc_loss: need (B, d) queries and (M >= B, d) products, got "
                         f"{tuple(query_vecs.shape)} and {tuple(product_vecs.shape)}")
    if positives is None:
        positives = torch.zeros(b, m, dtype=torch.bool, device=query_vecs.device)
        positives[torch.arange(b), torch.arange(b)] = True
    pos = positives.to(query_vecs.device).float()
    if (pos.sum(dim=1) == 0).any():
        raise ValueError("qcc_loss: a query has no positive product")
    u = F.normalize(query_vecs.float(), dim=-1)
    v = F.normalize(product_vecs.float().detach(), dim=-1)
    logits = scale * u @ v.T                                          # (B, M)
    q2p = -((pos / pos.sum(1, keepdim=True)) * F.log_softmax(logits, dim=1)).sum(1).mean()
    if not symmetric:
        return q2p
    pt = pos[:, :b].T                                                 # (B products, B queries)
    p2q = -((pt / pt.sum(1, keepdim=True)) * F.log_softmax(logits[:, :b].T, dim=1)).sum(1).mean()
    return (q2p + p2q) / 2


def _frozen_copy(model: Any) -> Any:
    twin = copy.deepcopy(model)
    twin.eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


try:
    from torch import nn as _nn

    _Base = _nn.Module
except ImportError:  # pragma: no cover - torch is a dependency
    _Base = object


class QCCLoss(_Base):
    """sentence-transformers loss for :func:`qcc_loss` (usable wherever ``MultipleNegativesRankingLoss`` is).

    Inputs: ``(anchor, positive[, negative_1, ...])`` text columns, as for MNRL. The anchor (query) is
    encoded by ``model`` (trained); positives and negatives by ``product_model``, a frozen copy of
    ``model`` taken at construction unless given (e.g. the catalogue's encoder).

    Args:
        model: the ``SentenceTransformer`` being trained (the query tower).
        product_model: frozen product encoder (``SentenceTransformer``); default a frozen deep copy of ``model``.
        scale: 1 / temperature (20 as in sentence-transformers' MNRL).
        symmetric: add the product -> query term.
    """

    def __init__(self, model: Any, product_model: Any = None, scale: float = 20.0, symmetric: bool = True) -> None:
        super().__init__()
        self.model = model
        self.product_model = _frozen_copy(model) if product_model is None else product_model
        for p in self.product_model.parameters():
            p.requires_grad_(False)
        self.scale = float(scale)
        self.symmetric = bool(symmetric)

    def forward(self, sentence_features: Iterable[Mapping[str, Any]], labels: Any = None) -> Any:
        import torch

        feats = list(sentence_features)
        q = self.model(feats[0])["sentence_embedding"]
        self.product_model.eval()
        with torch.no_grad():
            p = torch.cat([self.product_model(f)["sentence_embedding"] for f in feats[1:]])
        return qcc_loss(q, p, scale=self.scale, symmetric=self.symmetric)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "symmetric": self.symmetric}

    @property
    def citation(self) -> str:
        return ("@article{gurjar2025dashclip, title={DashCLIP: Leveraging multimodal models for generating "
                "semantic embeddings for DoorDash}, author={Gurjar, Omkar and Liu, Kin Sum and Kolli, Praveen and "
                "Kumar, Utsaw and Rahurkar, Mandar}, journal={arXiv:2504.07110}, year={2025}}")


def compare_qcc_mnrl(base_model: Any, products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                     params: Mapping[str, Any], *, show_progress: bool = False) -> dict[str, Any]:
    """Train one query encoder with QCC and one model with MNRL on the same train pairs and score both on dev.

    Small by design (minutes on 2 CPU cores): ``params`` keys ``n_pairs`` (train-split (query, title)
    pairs with gain >= ``min_gain``), ``max_steps``, ``batch_size``, ``learning_rate``, ``scale``,
    ``n_dev_queries``, ``catalogue_size`` (the dev queries' judged products plus a seeded sample of
    others), ``rel_threshold``, ``seed``, ``n_bootstrap``. QCC's catalogue is encoded once by the frozen
    base model; MNRL re-encodes it with its trained model.

    Returns:
        ``{"mnrl": {metric: mean}, "qcc": {...}, "base": {...}, "qcc_minus_mnrl": {mean, low, high, p_value} for
        nDCG@10, "n_train_pairs", "n_dev_queries", "n_products", "train_seconds": {...}}``.

    Raises:
        ValueError: no train pairs or no dev queries.
    """
    from discovery_pipelines.finetune.trainer import TrainConfig, train
    from discovery_pipelines.search import metrics as M
    from discovery_pipelines.search.embeddings import encode
    from discovery_pipelines.search.models import load_model
    from discovery_pipelines.search.retrieval import dense_search

    rng = np.random.default_rng(int(params.get("seed", 0)))
    titles = dict(zip(products["product_id"].astype(str), products["title"].astype(str)))
    qtext = dict(zip(queries["query_id"].astype(str), queries["text"].astype(str)))
    split = dict(zip(queries["query_id"].astype(str), queries["split"].astype(str)))
    rel = qrels[qrels["gain"].astype(float) >= float(params.get("min_gain", 2.0))]
    train_rel = rel[rel["query_id"].astype(str).map(split) == "train"]
    train_rel = train_rel.sample(frac=1.0, random_state=int(params.get("seed", 0))).drop_duplicates("query_id")
    pairs = pd.DataFrame({"query": train_rel["query_id"].astype(str).map(qtext),
                          "positive": train_rel["product_id"].astype(str).map(titles)}).dropna()
    pairs = pairs.head(int(params.get("n_pairs", 640))).reset_index(drop=True)
    dev_ids = [q for q in queries["query_id"].astype(str) if split[q] == "dev"]
    dev_ids = [dev_ids[i] for i in sorted(rng.permutation(len(dev_ids))[: int(params.get("n_dev_queries", 150))])]
    if pairs.empty or not dev_ids:
        raise ValueError(f"compare_qcc_mnrl: {len(pairs)} train pairs and {len(dev_ids)} dev queries")
    dev_q = pd.DataFrame({"query_id": dev_ids, "text": [qtext[q] for q in dev_ids]})
    dev_r = qrels[qrels["query_id"].astype(str).isin(set(dev_ids))]
    judged = set(dev_r["product_id"].astype(str))
    others = [p for p in products["product_id"].astype(str) if p not in judged]
    n_other = max(0, int(params.get("catalogue_size", 4000)) - len(judged))
    sample = [others[i] for i in sorted(rng.permutation(len(others))[:n_other])]
    cat_ids = sorted(judged) + sample
    cat_titles = [titles[p] for p in cat_ids]

    def score(q_model: Any, d_model: Any) -> pd.DataFrame:
        qv = encode(q_model, dev_q["text"].tolist(), cache_dir=None, show_progress=False)
        dv = encode(d_model, cat_titles, cache_dir=None, show_progress=show_progress)
        ids, _ = dense_search(qv, dv, cat_ids, k=100)
        run = {q: [p for p in row if p is not None] for q, row in zip(dev_ids, ids)}
        pq = M.score_run(run, dev_r, rel_threshold=float(params.get("rel_threshold", 2.0)))
        return pq.set_index("query_id").loc[dev_ids].reset_index()

    base = load_model(base_model)
    per_query = {"base": score(base, base)}
    seconds = {}
    for loss in ("mnrl", "qcc"):
        cfg = TrainConfig(loss=loss, batch_size=int(params.get("batch_size", 32)),
                          learning_rate=float(params.get("learning_rate", 5e-5)), max_steps=int(params.get("max_steps", 20)),
                          scale=float(params.get("scale", 20.0)), early_stopping_patience=None, seed=int(params.get("seed", 0)),
                          eval_steps=10_000, logging_steps=10_000, save_total_limit=1, precision="fp32")
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"qcc_vs_mnrl_{loss}_") as work:
            res = train(base, pairs, work, cfg, resume=False)
            trained = load_model(str(res.model_dir))
            seconds[loss] = time.perf_counter() - t
            per_query[loss] = score(trained, base if loss == "qcc" else trained)
    out: dict[str, Any] = {name: M.aggregate(pq) for name, pq in per_query.items()}
    diff = M.paired_bootstrap_ci(per_query["qcc"]["ndcg@10"].to_numpy(), per_query["mnrl"]["ndcg@10"].to_numpy(),
                                 n_resamples=int(params.get("n_bootstrap", 2000)), seed=int(params.get("seed", 0)))
    out.update({"qcc_minus_mnrl_ndcg@10": diff, "n_train_pairs": int(len(pairs)), "n_dev_queries": len(dev_ids),
                "n_products": len(cat_ids), "train_seconds": seconds,
                "note": "QCC trains queries only (catalogue encoded by the frozen base model); MNRL trains both sides"})
    log.info("QCC vs MNRL on dev: %s", {k: out[k]["ndcg@10"] for k in ("base", "mnrl", "qcc")})
    return out
