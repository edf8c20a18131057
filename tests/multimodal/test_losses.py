"""The multi-positive CLIP loss and QCC against hand computations, and QCCLoss as a sentence-transformers loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from discovery_pipelines.finetune.losses import QCCLoss, qcc_loss
from discovery_pipelines.multimodal.training import clip_multi_positive_loss


def _log_softmax(row: np.ndarray) -> np.ndarray:
    m = row.max()
    return row - m - math.log(np.exp(row - m).sum())


def test_clip_loss_matches_the_formula_with_shared_class_texts() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(5, 4, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=-1)
    labels = torch.tensor([0, 0, 2, 2, 2])       # classes 0 and 2 present, three photos share text 2
    s = torch.tensor(7.0)
    got = float(clip_multi_positive_loss(img, txt, labels, s))
    L = (s * img @ txt.T).numpy()
    i2t = -np.mean([_log_softmax(L[b])[labels[b]] for b in range(5)])
    t2i = []
    for c in (0, 2):
        pos = [b for b in range(5) if labels[b] == c]
        lsm = _log_softmax(L[:, c])
        t2i.append(-np.mean([lsm[b] for b in pos]))  # uniform target over the positives
    assert got == pytest.approx((i2t + np.mean(t2i)) / 2, rel=1e-5)
    # aligned vectors score far lower than shuffled ones
    aligned = clip_multi_positive_loss(txt[labels], txt, labels, torch.tensor(20.0))
    shuffled = clip_multi_positive_loss(txt[torch.tensor([1, 1, 0, 0, 0])], txt, labels, torch.tensor(20.0))
    assert float(aligned) < 0.5 * float(shuffled)
    with pytest.raises(ValueError, match="labels must be in"):
        clip_multi_positive_loss(img, txt, torch.tensor([0, 0, 3, 2, 2]), s)


def test_qcc_matches_the_formula_and_leaves_products_frozen() -> None:
    g = torch.Generator().manual_seed(1)
    q = torch.randn(3, 4, generator=g, requires_grad=True)
    p = torch.randn(5, 4, generator=g, requires_grad=True)      # 3 positives + 2 catalogue negatives
    pos = torch.zeros(3, 5, dtype=torch.bool)
    pos[0, 0] = pos[1, 1] = pos[2, 2] = True
    pos[0, 1] = True                                             # query 0 also relevant to product 1
    loss = qcc_loss(q, p, scale=10.0, symmetric=True, positives=pos)
    loss.backward()
    assert p.grad is None                                        # the product space is frozen
    assert q.grad is not None and float(q.grad.abs().sum()) > 0
    u = torch.nn.functional.normalize(q.detach(), dim=-1).numpy()
    v = torch.nn.functional.normalize(p.detach(), dim=-1).numpy()
    L = 10.0 * u @ v.T
    P = pos.numpy().astype(float)
    q2p = -np.mean([(P[i] / P[i].sum() * _log_softmax(L[i])).sum() for i in range(3)])
    Pt = P[:, :3].T
    p2q = -np.mean([(Pt[j] / Pt[j].sum() * _log_softmax(L[:, j])).sum() for j in range(3)])
    assert float(loss) == pytest.approx((q2p + p2q) / 2, rel=1e-5)
    one_way = qcc_loss(q.detach(), p.detach(), scale=10.0, symmetric=False, positives=pos)
    assert float(one_way) == pytest.approx(q2p, rel=1e-5)
    with pytest.raises(ValueError, match="M >= B"):
        qcc_loss(q, p[:2])


def test_qcc_loss_trains_the_query_side_only(st_model, hd_small) -> None:
    import copy

    from discovery_pipelines.search.embeddings import encode

    model = copy.deepcopy(st_model)
    loss_fn = QCCLoss(model, scale=20.0)
    titles = dict(zip(hd_small.products["product_id"], hd_small.products["title"]))
    qtext = dict(zip(hd_small.queries["query_id"], hd_small.queries["text"]))
    rel = hd_small.qrels[hd_small.qrels["gain"] >= 2.5].drop_duplicates("query_id").head(16)
    queries = [qtext[q] for q in rel["query_id"]]
    docs = [titles[p] for p in rel["product_id"]]
    before = encode(loss_fn.product_model, docs, cache_dir=None, show_progress=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(4):
        feats = [{k: v for k, v in model.tokenize(queries).items()}, {k: v for k, v in model.tokenize(docs).items()}]
        loss = loss_fn(feats, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    after = encode(loss_fn.product_model, docs, cache_dir=None, show_progress=False)
    assert np.allclose(before, after)                    # frozen product encoder
    assert losses[-1] < losses[0]
    q_now = encode(model, queries, cache_dir=None, show_progress=False)
    q_base = encode(st_model, queries, cache_dir=None, show_progress=False)
    assert not np.allclose(q_now, q_base)                # the query encoder moved
    # and moved towards its products: mean cosine to the positive rose
    assert float((q_now * after).sum(1).mean()) > float((q_base * after).sum(1).mean())


def test_finetune_trainer_offers_qcc(st_model) -> None:
    from discovery_pipelines.finetune.trainer import TrainConfig, _make_loss

    loss = _make_loss(st_model, TrainConfig(loss="qcc", scale=15.0))
    assert isinstance(loss, QCCLoss) and loss.scale == 15.0 and loss.product_model is not st_model
