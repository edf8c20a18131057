"""The product tower's memory layout and test-time views on real GroceryStore photos: the channels-last
tower computes what the default layout computes, and the mirrored views make the catalogue vector of a
photo the same as that of its mirror image; bf16 autocast encodes what fp32 encodes, to rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from discovery_pipelines.multimodal.images import decode_images, eval_views
from discovery_pipelines.multimodal.towers import build_product_tower, load_tower, tower_state
from discovery_pipelines.multimodal.training import encode_photos

KW = {"channels": [8, 16, 32, 64], "stem_width": 8}


@pytest.fixture(scope="module")
def photos(grocery_root: Path) -> np.ndarray:
    items = pd.read_parquet(grocery_root / "items.parquet")
    paths = items.groupby("fine_class_name").head(1)["image_path"].head(12).tolist()
    pixels, skipped = decode_images(grocery_root, paths, 72, show_progress=False)
    assert len(skipped) == 0
    return pixels


def _tower(channels_last: bool):
    torch.manual_seed(0)
    return build_product_tower("resnet18", 384, 32, model_kwargs=KW, channels_last=channels_last).eval()


def test_channels_last_tower_matches_the_default_layout(photos: np.ndarray) -> None:
    nchw, nhwc = _tower(False), _tower(True)
    nhwc.load_state_dict(nchw.state_dict())
    assert next(p for p in nhwc.image.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    idx = np.arange(len(photos))
    a = encode_photos(nchw, photos, idx, 64, tta="flip")
    b = encode_photos(nhwc, photos, idx, 64, tta="flip")
    assert a.shape == (len(photos), 32) and np.allclose(a, b, atol=1e-4)
    again = load_tower(tower_state(nhwc), "cpu")            # the layout travels with the saved spec
    assert again.channels_last and np.allclose(encode_photos(again, photos, idx, 64, tta="flip"), b, atol=1e-5)


def test_mirrored_views_make_the_vector_mirror_invariant(photos: np.ndarray) -> None:
    tower = _tower(True)
    idx = np.arange(len(photos))
    mirror = np.ascontiguousarray(photos[..., ::-1])
    for tta in ("flip", "ten_crop"):
        v, vm = encode_photos(tower, photos, idx, 64, tta=tta), encode_photos(tower, mirror, idx, 64, tta=tta)
        assert np.allclose(v, vm, atol=1e-4), tta
        assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    plain, plain_m = encode_photos(tower, photos, idx, 64, tta="none"), encode_photos(tower, mirror, idx, 64, tta="none")
    assert not np.allclose(plain, plain_m, atol=1e-3)          # one view alone sees the mirror image differently
    ten = encode_photos(tower, photos, idx, 64, tta="ten_crop")
    assert not np.allclose(ten, encode_photos(tower, photos, idx, 64, tta="flip"), atol=1e-3)


def test_five_crops_are_the_centre_and_the_corners(photos: np.ndarray) -> None:
    views = eval_views(photos, np.arange(3), 64, five_crop=True)
    assert len(views) == 5 and all(v.shape == (3, 3, 64, 64) for v in views)
    assert torch.equal(views[0], torch.from_numpy(photos[:3, :, 4:68, 4:68]))
    assert torch.equal(views[1], torch.from_numpy(photos[:3, :, :64, :64]))
    assert torch.equal(views[4], torch.from_numpy(photos[:3, :, 8:, 8:]))
    assert len(eval_views(photos, np.arange(3), 64)) == 1


def test_unknown_tta_is_an_error(photos: np.ndarray) -> None:
    with pytest.raises(ValueError, match="tta must be one of"):
        encode_photos(_tower(False), photos, np.arange(2), 64, tta="twelve_crop")


def test_bf16_encoding_agrees_with_fp32(photos: np.ndarray) -> None:
    """bf16 autocast (the default on AMX / AVX512-BF16 CPUs) moves each photo's vector by well under a
    degree, and every photo's nearest other photo stays the same."""
    tower = _tower(True)
    idx = np.arange(len(photos))
    a = encode_photos(tower, photos, idx, 64, tta="ten_crop", precision="fp32")
    b = encode_photos(tower, photos, idx, 64, tta="ten_crop", precision="bf16")
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (a * b).sum(1).min() > 0.995
    assert not np.array_equal(a, b)                       # bf16 did run: the products are rounded
    sim_a, sim_b = a @ a.T - 2 * np.eye(len(a)), b @ b.T - 2 * np.eye(len(b))
    assert (sim_a.argmax(1) == sim_b.argmax(1)).mean() >= 0.9
    with pytest.raises(ValueError, match="precision must be one of"):
        encode_photos(tower, photos, idx[:2], 64, precision="fp16")
