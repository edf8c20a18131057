"""Decoding shop photos once into a uint8 pixel array, with clear errors, and batched augmentation.

Every photo is decoded with Pillow, resized so its shorter side is ``size`` pixels and centre-cropped
to ``size x size`` (``(N, 3, size, size)`` uint8, RGB). Training then reads random crops of that
array (no JPEG decoding or DataLoader workers per epoch: on a 2-core CPU decoding would cost as much
as the CNN). A missing, corrupt or truncated file raises :class:`ImageError` naming the file, or is
a counted skip with ``on_error="skip"``; nothing half-decoded is returned.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# ImageNet channel statistics (the timm default for models trained from scratch or pretrained).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ImageError(ValueError):
    """A photo could not be used. ``path`` is the file, ``reason`` what went wrong."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"image {path}: {reason}")
        self.path = str(path)
        self.reason = reason


def decode_image(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """One photo as ``(3, size, size)`` uint8 RGB (shorter side resized to ``size``, centre crop).

    Raises:
        ImageError: the file is missing, not an image, corrupt or truncated (Pillow raises on a
            truncated JPEG at ``load()`` unless ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set; we keep
            that off so a cut-off file is an error, not a grey band).
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ImageError(p, "file does not exist")
    try:
        with Image.open(p) as im:
            im.load()
            im = im.convert("RGB")
    except UnidentifiedImageError:
        raise ImageError(p, "not a readable image (corrupt or unknown format)") from None
    except (OSError, SyntaxError, ValueError) as e:   # truncated / broken data
        raise ImageError(p, f"corrupt or truncated image data ({e})") from None
    w, h = im.size
    if min(w, h) < 8:
        raise ImageError(p, f"image too small ({w}x{h})")
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC,
                   reducing_gap=3.0)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def decode_images(root: str | os.PathLike[str], rel_paths: Sequence[str], size: int, *,
                  on_error: str = "raise", show_progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Decode ``root / p`` for every ``p`` in ``rel_paths``.

    Returns:
        ``(pixels, skipped)``: uint8 ``(n_ok, 3, size, size)`` in input order without the skipped
        photos, and a DataFrame ``position, image_path, reason`` of the skipped ones (empty unless
        ``on_error="skip"``).

    Raises:
        ImageError: first bad photo when ``on_error="raise"``. ValueError: unknown ``on_error``.
    """
    from tqdm.auto import tqdm

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root = Path(root)
    out = np.empty((len(rel_paths), 3, size, size), dtype=np.uint8)
    keep, skipped = [], []
    for i, rel in enumerate(tqdm(rel_paths, desc=f"decode photos ({size}px)", disable=not show_progress,
                                 mininterval=2.0)):
        try:
            out[i] = decode_image(root / rel, size)
            keep.append(i)
        except ImageError as e:
            if on_error == "raise":
                raise
            skipped.append((i, str(rel), e.reason))
    return out[keep], pd.DataFrame(skipped, columns=["position", "image_path", "reason"])


def normalise(batch, device: str = "cpu"):
    """uint8 ``(B, 3, H, W)`` tensor (or float in ``[0, 1]``) -> float32 normalised with :data:`MEAN` /
    :data:`STD` on ``device``."""
    import torch

    x = batch.to(device, non_blocking=True)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class BatchAugment:
    """Training augmentation of a whole uint8 batch at once (one random draw per photo, no Python loop):
    random resized crop to ``crop`` px (area share ``scale_min..1``, aspect ratio 3/4..4/3, as
    torchvision's ``RandomResizedCrop``; bilinear resampling through one ``affine_grid`` /
    ``grid_sample``), horizontal flip, brightness / contrast / saturation jitter of up to ``jitter``
    (torchvision ``ColorJitter``'s definitions). No hue jitter: colour separates fine classes (Granny
    Smith vs Red Delicious). Per-photo torchvision v2 transforms cost ~20 % of a training step on 2 CPU
    cores; this costs ~1 %.

    ``__call__(batch_uint8 (B, 3, S, S), generator) -> float32 (B, 3, crop, crop)`` in ``[0, 1]``.
    """

    def __init__(self, crop: int, scale_min: float = 0.35, jitter: float = 0.25) -> None:
        self.crop, self.scale_min, self.jitter = int(crop), float(scale_min), float(jitter)

    def __call__(self, batch, generator=None):
        import torch
        from torch.nn import functional as F

        b = batch.shape[0]
        x = batch.float().div_(255.0)
        g = generator

        def u(lo: float, hi: float):
            return lo + (hi - lo) * torch.rand(b, generator=g)

        area = u(self.scale_min, 1.0)
        logr = u(float(np.log(3 / 4)), float(np.log(4 / 3)))
        ratio = torch.exp(logr)
        w = torch.sqrt(area * ratio).clamp(max=1.0)       # crop width / height as shares of the photo
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (u(0, 1) * 2 - 1) * (1 - w)                  # centre, in [-1, 1] coordinates, crop inside
        cy = (u(0, 1) * 2 - 1) * (1 - h)
        flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta, [b, 3, self.crop, self.crop], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if self.jitter > 0:
            j = self.jitter
            x = x * u(1 - j, 1 + j).view(b, 1, 1, 1)                                   # brightness
            grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
            mean = grey.mean(dim=(2, 3), keepdim=True)
            x = (x - mean) * u(1 - j, 1 + j).view(b, 1, 1, 1) + mean                  # contrast
            grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
            x = (x - grey) * u(1 - j, 1 + j).view(b, 1, 1, 1) + grey                  # saturation
        return x.clamp_(0.0, 1.0)


def eval_batch(pixels: np.ndarray, idx: np.ndarray, crop: int, offset: tuple[int, int] | None = None):
    """A ``crop`` x ``crop`` window of ``pixels[idx]`` as a uint8 tensor: the centre (deterministic
    evaluation view), or the window whose top-left corner is ``offset = (row, col)``."""
    import torch

    s = pixels.shape[-1]
    r, c = offset if offset is not None else ((s - crop) // 2, (s - crop) // 2)
    return torch.from_numpy(np.ascontiguousarray(pixels[idx, :, r:r + crop, c:c + crop]))


def eval_views(pixels: np.ndarray, idx: np.ndarray, crop: int, five_crop: bool = False) -> list:
    """The evaluation crops of ``pixels[idx]`` (uint8 tensors ``(len(idx), 3, crop, crop)``): the centre
    crop, and with ``five_crop`` also the four corner crops (the five crops of Krizhevsky et al. 2012's
    ten-crop evaluation; the mirror images are added by the encoder)."""
    views = [eval_batch(pixels, idx, crop)]
    if five_crop:
        m = pixels.shape[-1] - crop
        views += [eval_batch(pixels, idx, crop, (r, c)) for r in (0, m) for c in (0, m)]
    return views
