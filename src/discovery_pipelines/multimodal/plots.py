"""Figures of the multimodal pipeline: training curves, coarse-class confusion, query -> top-5 photo grid."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def training_curves(tower_history: Sequence[Mapping[str, float]],
                    query_history: Sequence[Mapping[str, float]]) -> plt.Figure:
    """Product tower loss / val top-1 per epoch and query tower QCC loss per step."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ep = [h["epoch"] for h in tower_history]
    axes[0].plot(ep, [h["train_loss"] for h in tower_history], marker="o", label="train")
    if tower_history and "val_loss" in tower_history[0]:
        axes[0].plot(ep, [h["val_loss"] for h in tower_history], marker="o", label="val (photo->class CE)")
    axes[0].set(title="product tower: contrastive loss", xlabel="epoch")
    axes[0].legend()
    if tower_history and "val_top1" in tower_history[0]:
        axes[1].plot(ep, [h["val_top1"] for h in tower_history], marker="o", color="tab:green")
    axes[1].set(title="product tower: val photo -> fine class top-1", xlabel="epoch", ylim=(0, 1))
    axes[2].plot([h["step"] for h in query_history], [h["loss"] for h in query_history], color="tab:purple")
    axes[2].set(title="query tower: QCC loss", xlabel="step")
    fig.tight_layout()
    return fig


def confusion_figure(matrix: np.ndarray, labels: Sequence[str], title: str) -> plt.Figure:
    """Heat map of a row-normalised confusion matrix with class names on both axes."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.22 * n + 3, 0.22 * n + 2.5))
    im = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(n), labels, fontsize=6)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig


def query_grid(rows: Sequence[tuple[str, Sequence[tuple[str, bool, str]]]], image_root: str | os.PathLike[str],
               thumb_px: int = 128) -> plt.Figure:
    """One row per query: its top-5 photos, framed green when relevant (gain >= threshold), red when not.

    Args:
        rows: ``(query, [(image_path, relevant, caption), ...])``; image paths relative to ``image_root``.
    """
    from PIL import Image

    k = max((len(h) for _, h in rows), default=5)
    fig, axes = plt.subplots(len(rows), k, figsize=(2.1 * k, 2.3 * len(rows)), squeeze=False)
    for r, (query, hits) in enumerate(rows):
        for c in range(k):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(hits):
                ax.axis("off")
                continue
            path, relevant, caption = hits[c]
            with Image.open(Path(image_root) / path) as im:
                im = im.convert("RGB")
                im.thumbnail((thumb_px, thumb_px))
                ax.imshow(np.asarray(im))
            for s in ax.spines.values():
                s.set_edgecolor("tab:green" if relevant else "tab:red")
                s.set_linewidth(4)
            ax.set_xlabel(caption[:24], fontsize=7)
            if c == 0:
                ax.set_ylabel(query, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("query -> top-5 test photos (green: relevant, red: not)")
    fig.tight_layout()
    return fig


def image_rows(run: Mapping[str, Sequence[str]], queries: Mapping[str, str], judged: Mapping[str, Mapping[str, float]],
               captions: Mapping[str, str], query_ids: Sequence[str], k: int = 5,
               rel_threshold: float = 2.0) -> list[tuple[str, list[tuple[str, bool, str]]]]:
    """Rows for :func:`query_grid` from a run (product ids are image paths)."""
    out: list[tuple[str, list[tuple[str, bool, Any]]]] = []
    for q in query_ids:
        hits = [(p, judged.get(q, {}).get(p, 0.0) >= rel_threshold, captions.get(p, "")) for p in list(run.get(q, []))[:k]]
        out.append((queries[q], hits))
    return out
