"""Stage 1: train the product tower with a symmetric multi-positive image-text contrastive loss.

Loss (CLIP, Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision"; InfoNCE, van den Oord et al. 2018), for a batch of B photos with image vectors u_b,
the C class texts t_c of the catalogue (projected frozen text embeddings) and the class y_b of photo b,
with s the learnable logit scale:

    L_i2t = -1/B  sum_b log( exp(s u_b.t_{y_b}) / sum_c exp(s u_b.t_c) )
    L_t2i = -1/|C_B| sum_{c in C_B} sum_b q_cb log( exp(s t_c.u_b) / sum_b' exp(s t_c.u_b') ),
            q_cb = 1[y_b = c] / |{b: y_b = c}|
    L     = (L_i2t + L_t2i) / 2

C_B are the classes present in the batch. Several photos share one class text, so the text->image
direction has several positives: its target is the uniform distribution over them (the multi-positive
form of SupCon, Khosla et al. 2020, and UniCL, Yang et al. 2022) instead of CLIP's one-hot target, which
would call a photo of the same class a negative.

Training reads the train split only; the val split chooses the epoch (early stopping on val
photo -> class top-1). With ``ema_decay`` > 0 the weights that are evaluated and kept are an
exponential moving average of the trained ones (Polyak averaging, Polyak & Juditsky 1992; timm's
``ModelEmaV3`` with its warm-up, which also averages BatchNorm statistics): on 2,640 photos the raw
weights' val accuracy swings by several points from epoch to epoch, the average's far less.
The cosine learning-rate schedule runs on ``max(step progress, time progress)``, so with a
wall-clock budget the rate has decayed when the budget ends.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from discovery_pipelines.multimodal.images import BatchAugment, eval_views, normalise
from discovery_pipelines.multimodal.params import ProductTowerParams as TowerConfig
from discovery_pipelines.multimodal.towers import build_product_tower, default_device

log = logging.getLogger(__name__)


def clip_multi_positive_loss(image_vecs: Any, text_vecs: Any, labels: Any, scale: Any) -> Any:
    """Symmetric multi-positive contrastive loss of the module doc (a scalar tensor).

    Args:
        image_vecs: ``(B, d)`` L2-normalised image vectors. text_vecs: ``(C, d)`` L2-normalised
            class-text vectors. labels: int64 ``(B,)`` in ``0..C-1``. scale: logit scale (tensor).

    Raises:
        ValueError: shapes disagree or a label is out of range.
    """
    import torch
    from torch.nn import functional as F

    if image_vecs.shape[1] != text_vecs.shape[1] or labels.shape[0] != image_vecs.shape[0]:
        raise ValueError(f"clip loss: shapes {tuple(image_vecs.shape)}, {tuple(text_vecs.shape)}, "
                         f"{tuple(labels.shape)} disagree")
    if int(labels.min()) < 0 or int(labels.max()) >= text_vecs.shape[0]:
        raise ValueError(f"clip loss: labels must be in 0..{text_vecs.shape[0] - 1}")
    logits = scale * image_vecs @ text_vecs.T                    # (B, C)
    i2t = F.cross_entropy(logits, labels)
    present = torch.unique(labels)                               # classes of the batch
    pos = (labels[None, :] == present[:, None]).float()          # (|C_B|, B)
    q = pos / pos.sum(dim=1, keepdim=True)
    t2i = -(q * F.log_softmax(logits.T[present], dim=1)).sum(dim=1).mean()
    return (i2t + t2i) / 2


@dataclass
class TowerResult:
    tower: Any
    history: list[dict[str, float]]
    best_epoch: int
    stopped: str
    train_seconds: float
    train_images_per_s: float
    precision: str = "fp32"      # the autocast the backbone trained under (``fp32`` / ``bf16``)


def _resolve_device(device: str) -> str:
    return default_device() if device == "auto" else device


def _lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return max(progress / max(warmup, 1e-9), 0.02)
    p = (progress - warmup) / max(1.0 - warmup, 1e-9)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, p)))


TTA_MODES = ("none", "flip", "ten_crop")


def encode_photos(tower: Any, pixels: np.ndarray, idx: np.ndarray, crop: int, *, batch_size: int = 256,
                  device: str = "cpu", tta: str = "flip", with_features: bool = False,
                  precision: str = "fp32") -> Any:
    """L2-normalised ``(len(idx), dim)`` float32 image vectors of ``pixels[idx]`` (uint8 ``(N, 3, S, S)``).

    ``tta`` chooses the views whose backbone features are averaged before the projection: ``"none"``
    the centre ``crop``, ``"flip"`` it and its mirror image, ``"ten_crop"`` the centre and the four
    corner crops and their mirror images (Krizhevsky et al. 2012; five times the cost of ``"flip"``).
    With ``with_features`` also the averaged backbone features ``(len(idx), num_features)``.
    ``precision`` (``fp32`` / ``bf16`` / ``auto``, :func:`search.precision.resolve_precision`) is the
    backbone's autocast; views are averaged and projected in fp32.

    Raises:
        ValueError: unknown ``tta`` or ``precision``.
    """
    import torch
    from torch.nn import functional as F

    from discovery_pipelines.search.precision import autocast, resolve_precision

    if tta not in TTA_MODES:
        raise ValueError(f"encode_photos: tta must be one of {TTA_MODES}, got {tta!r}")
    precision = resolve_precision(precision)
    tower.eval()
    vecs, feats = [], []
    with torch.inference_mode():
        for s in range(0, len(idx), batch_size):
            views = []                                   # fp32 backbone features of every view
            for view in eval_views(pixels, idx[s:s + batch_size], crop, five_crop=tta == "ten_crop"):
                x = normalise(view, device)
                with autocast(precision, device_type=device.split(":")[0]):
                    views.append(tower.image_features(x).float())
                    if tta != "none":
                        views.append(tower.image_features(torch.flip(x, dims=[3])).float())
            f = sum(views) / len(views)
            vecs.append(F.normalize(tower.image_proj(f).float(), dim=-1).cpu().numpy())
            feats.append(f.float().cpu().numpy())
    v = np.concatenate(vecs) if vecs else np.zeros((0, tower.dim), np.float32)
    if with_features:
        return v.astype(np.float32), np.concatenate(feats).astype(np.float32)
    return v.astype(np.float32)


def project_texts(tower: Any, text_emb: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Projected L2-normalised ``(N, dim)`` vectors of frozen text embeddings ``(N, text_dim)``."""
    import torch

    tower.eval()
    with torch.inference_mode():
        return tower.encode_text(torch.from_numpy(np.asarray(text_emb, np.float32)).to(device)).cpu().numpy()


def train_product_tower(pixels: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                        class_text_emb: np.ndarray, config: TowerConfig, *, show_progress: bool = True) -> TowerResult:
    """Train the product tower (module doc) and return it at its best val epoch.

    Args:
        pixels: uint8 ``(N, 3, S, S)`` decoded photos (:func:`images.decode_images`), ``S >= crop``.
        labels: int fine class of every row of ``pixels`` (``0..C-1``).
        train_idx / val_idx: rows of the train and val splits (val may be empty: then the last epoch is kept).
        class_text_emb: ``(C, text_dim)`` frozen text-model embeddings of the class texts.

    Returns:
        :class:`TowerResult` with the kept weights (the EMA when ``ema_decay`` > 0) of the best val epoch;
        ``history`` has one row per epoch: ``epoch``, ``train_loss``, ``val_loss`` and ``val_top1`` (of the
        kept weights, centre crop), ``lr``, ``seconds`` (cumulative), ``images_per_s``. The forward
        passes run under bf16 autocast when ``config.precision`` resolves to ``bf16``
        (:func:`search.precision.resolve_precision`: native on AMX / AVX512-BF16 CPUs and CUDA; ~1.6x the
        images/s of fp32 on a 2-core AMX CPU); loss, optimiser and EMA stay fp32.

    Raises:
        ValueError: empty train split, ``crop`` larger than the decoded size, labels out of range.
    """
    import torch
    from timm.utils import ModelEmaV3
    from tqdm.auto import tqdm

    from discovery_pipelines.search.precision import autocast, resolve_precision

    if len(train_idx) == 0:
        raise ValueError("train_product_tower: the train split is empty")
    if pixels.shape[-1] < config.crop:
        raise ValueError(f"decoded photos are {pixels.shape[-1]} px, smaller than crop {config.crop}")
    device = _resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    tower = build_product_tower(config.arch, class_text_emb.shape[1], config.dim, weights_path=config.weights_path,
                                model_kwargs=config.model_kwargs, init_temperature=config.init_temperature,
                                fusion_alpha=config.fusion_alpha, channels_last=config.channels_last).to(device)
    ema = ModelEmaV3(tower, decay=config.ema_decay, use_warmup=True) if config.ema_decay > 0 else None
    kept = ema.module if ema is not None else tower      # the weights evaluated on val and returned
    opt = torch.optim.AdamW(tower.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    augment = BatchAugment(config.crop, config.scale_min, config.jitter)
    gen = torch.Generator().manual_seed(config.seed)
    texts = torch.from_numpy(np.asarray(class_text_emb, np.float32)).to(device)
    y_all = torch.from_numpy(np.array(labels, dtype=np.int64))
    steps_per_epoch = max(1, len(train_idx) // config.batch_size)
    total = steps_per_epoch * config.max_epochs
    warm = config.warmup_epochs / config.max_epochs
    history: list[dict[str, float]] = []
    best, best_epoch, best_state, bad_epochs, stopped = -1.0, 0, None, 0, "max_epochs"
    t0, step, seen = time.perf_counter(), 0, 0
    precision = resolve_precision(config.precision)
    log.info("product tower: training on %s at %s", device, precision)
    for epoch in range(1, config.max_epochs + 1):
        tower.train()
        order = rng.permutation(train_idx)
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"product tower epoch {epoch}", disable=not show_progress,
                   leave=False, mininterval=5.0)
        for b in bar:
            if b and time.perf_counter() - t0 >= config.time_budget_s:
                break       # budget spent mid-epoch: evaluate what we have
            progress = max(step / total, (time.perf_counter() - t0) / config.time_budget_s)
            lr = config.lr * _lr_factor(progress, warm)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            x = normalise(augment(torch.from_numpy(pixels[idx]), gen), device)
            y = y_all[idx].to(device)
            with autocast(precision, device_type=device.split(":")[0]):
                u = tower.encode_image(x)
                t = tower.encode_text(texts)
            loss = clip_multi_positive_loss(u.float(), t.float(), y, tower.scale())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(tower, step=step)
            losses.append(float(loss.detach()))
            step += 1
            seen += len(idx)
        elapsed = time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "lr": lr, "seconds": elapsed,
               "images_per_s": seen / elapsed}
        if len(val_idx):
            u = torch.from_numpy(encode_photos(kept, pixels, val_idx, config.crop, device=device, tta="none",
                                               precision=precision))
            with torch.inference_mode():
                t = kept.encode_text(texts).cpu()
                logits = kept.scale().cpu() * u @ t.T
                yv = y_all[val_idx]
                row["val_loss"] = float(torch.nn.functional.cross_entropy(logits, yv))
                row["val_top1"] = float((logits.argmax(1) == yv).float().mean())
        history.append(row)
        log.info("product tower epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
        score = row.get("val_top1", float(epoch))
        if score > best:
            best, best_epoch, bad_epochs = score, epoch, 0
            best_state = copy.deepcopy(kept.state_dict())
        else:
            bad_epochs += 1
        if len(val_idx) and bad_epochs >= config.patience:
            stopped = "early_stopping"
            break
        if elapsed >= config.time_budget_s:
            stopped = "time_budget"
            break
    secs = time.perf_counter() - t0
    if best_state is not None:
        kept.load_state_dict(best_state)
    kept.eval()
    return TowerResult(kept, history, best_epoch, stopped, secs, seen / secs if secs else 0.0, precision)


def topk_classes(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def class_accuracy(scores: np.ndarray, y_fine: np.ndarray, fine_to_coarse: np.ndarray,
                   ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy for fine classes (``scores`` ``(N, C_fine)``) and coarse classes (a coarse class
    scores the max of its fine classes). Keys ``fine_top1``, ``fine_top5``, ``coarse_top1``, ..."""
    n_coarse = int(fine_to_coarse.max()) + 1
    coarse = np.full((scores.shape[0], n_coarse), -np.inf, dtype=np.float64)
    for c in range(n_coarse):
        cols = np.flatnonzero(fine_to_coarse == c)
        if len(cols):
            coarse[:, c] = scores[:, cols].max(axis=1)
    y_coarse = fine_to_coarse[y_fine]
    out: dict[str, float] = {}
    for k in ks:
        out[f"fine_top{k}"] = float((topk_classes(scores, k) == y_fine[:, None]).any(axis=1).mean())
        out[f"coarse_top{k}"] = float((topk_classes(coarse, k) == y_coarse[:, None]).any(axis=1).mean())
    return out


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *, c: float = 1.0,
                 max_iter: int = 300, seed: int = 0) -> np.ndarray:
    """Class scores ``(n_test, C)`` of a multinomial logistic regression fitted on standardised frozen
    features (the linear-probe protocol of Radford et al. 2021, scikit-learn's ``LogisticRegression``).
    Columns are the sorted distinct ``train_y`` values."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    clf.fit(train_x, train_y)
    return clf.predict_proba(test_x), clf[-1].classes_


def knn_scores(train_vecs: np.ndarray, train_y: np.ndarray, test_vecs: np.ndarray, n_classes: int,
               k: int = 10) -> np.ndarray:
    """Cosine kNN class scores ``(n_test, n_classes)``: similarity-weighted votes of the ``k`` nearest
    train vectors (all L2-normalised)."""
    sims = test_vecs @ train_vecs.T
    nn_idx = topk_classes(sims, k)
    out = np.zeros((len(test_vecs), n_classes))
    w = np.take_along_axis(sims, nn_idx, axis=1)
    np.add.at(out, (np.repeat(np.arange(len(test_vecs)), nn_idx.shape[1]), train_y[nn_idx].ravel()), w.ravel())
    return out
