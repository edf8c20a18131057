"""Images/s of the multimodal product tower: our training step and encoding vs a bare timm loop, same run.

    .venv/bin/python scripts/benchmark_multimodal.py [--steps 12] [--batch 64] [--out results/multimodal/benchmark.json]

Measures on real GroceryStore photos (decoded once, as the pipeline does), with the default
``product_tower`` parameters (conf/base/parameters_multimodal.yml):

* ``pipeline_train``: :func:`discovery_pipelines.multimodal.training.train_product_tower` for a fixed
  number of steps (augmentation, normalisation, CLIP loss, AdamW), images/s over those steps, at the
  configured ``precision`` (``auto``: bf16 autocast where the CPU runs it natively); where that is bf16,
  ``pipeline_train_fp32`` is the same loop at fp32;
* ``bare_train``: ``timm.create_model`` of the same architecture, random crops of the same tensors,
  cross-entropy on a linear head, AdamW: the floor any training loop pays;
  (default NCHW layout: what a plain loop runs; the pipeline's tower uses ``channels_last`` by default);
* ``pipeline_encode`` / ``bare_encode``: :func:`encode_photos` with the configured test-time views
  (``tta``: ``ten_crop`` = ten forwards per photo, ``flip`` = two) vs one bare ``model(x)`` forward under
  ``inference_mode``; ``pipeline_encode_flip`` is the two-view figure.

The machine is shared: the JSON records ``uptime``'s load average before and after, the CPU model and
whether it has AMX, the command and the date (UTC).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import discovery_pipelines  # noqa: E402,F401  (offline env, torchvision hook)


def _cpu() -> dict:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {"model": model, "amx": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n-photos", type=int, default=768)
    ap.add_argument("--out", default=str(ROOT / "results/multimodal/benchmark.json"))
    args = ap.parse_args()

    import torch
    import yaml

    from discovery_pipelines.data.io import write_json
    from discovery_pipelines.multimodal.images import decode_images, eval_batch, normalise
    from discovery_pipelines.multimodal.params import ProductTowerParams
    from discovery_pipelines.multimodal.towers import create_backbone
    from discovery_pipelines.multimodal.training import encode_photos, train_product_tower
    from discovery_pipelines.search.precision import resolve_precision

    params = yaml.safe_load((ROOT / "conf/base/parameters_multimodal.yml").read_text())["multimodal"]
    p = ProductTowerParams.model_validate(params["product_tower"])
    data_root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets")) / "grocery_store"
    import pandas as pd

    items = pd.read_parquet(data_root / "items.parquet")
    items = items[items["split"] == "train"].sample(n=args.n_photos, random_state=0)
    load_before = os.getloadavg()
    t = time.perf_counter()
    pixels, _ = decode_images(data_root, items["image_path"].tolist(), int(params["photos"]["decode_px"]),
                              show_progress=False)
    decode_s = time.perf_counter() - t
    labels = items["fine_class_id"].to_numpy()
    text = np.random.default_rng(0).standard_normal((81, 384)).astype(np.float32)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    n_img = args.steps * args.batch
    cfg = p.model_copy(update={"batch_size": args.batch, "max_epochs": 1, "time_budget_s": 1e9, "device": device})
    idx = np.arange(min(n_img, len(pixels)))
    res = train_product_tower(pixels, labels, idx, np.array([], dtype=int), text, cfg, show_progress=False)
    pipe_train = res.train_images_per_s
    precision = resolve_precision(p.precision)
    extra = {}
    if precision == "bf16":
        fp32 = train_product_tower(pixels, labels, idx, np.array([], dtype=int), text,
                                   cfg.model_copy(update={"precision": "fp32"}), show_progress=False)
        extra["pipeline_train_fp32"] = fp32.train_images_per_s
    t = time.perf_counter()
    encode_photos(res.tower, pixels, np.arange(len(pixels)), p.crop, device=device, tta=p.tta, precision=precision)
    pipe_enc = len(pixels) / (time.perf_counter() - t)
    t = time.perf_counter()
    encode_photos(res.tower, pixels, np.arange(len(pixels)), p.crop, device=device, tta="flip", precision=precision)
    pipe_enc_flip = len(pixels) / (time.perf_counter() - t)

    model = create_backbone(p.arch, model_kwargs=p.model_kwargs).to(device)
    head = torch.nn.Linear(model.num_features, 81).to(device)
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-3)
    y = torch.from_numpy(labels.astype(np.int64))
    rng = np.random.default_rng(0)
    steps = max(1, len(idx) // args.batch)
    t = time.perf_counter()
    for s in range(steps):
        b = rng.choice(len(pixels), size=args.batch, replace=False)
        x = normalise(eval_batch(pixels, b, p.crop), device)
        loss = torch.nn.functional.cross_entropy(head(model(x)), y[b].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    bare_train = steps * args.batch / (time.perf_counter() - t)
    model.eval()
    t = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(pixels), 256):
            model(normalise(eval_batch(pixels, np.arange(s, min(s + 256, len(pixels))), p.crop), device))
    bare_enc = len(pixels) / (time.perf_counter() - t)
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _cpu(), "device": device, "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "arch": p.arch, "model_kwargs": p.model_kwargs, "crop": p.crop, "batch": args.batch, "steps": steps,
        "channels_last": p.channels_last, "tta": p.tta, "precision": precision,
        "decode_photos_per_s": len(pixels) / decode_s,
        "images_per_s": {"pipeline_train": pipe_train, **extra, "bare_train": bare_train,
                         "pipeline_encode": pipe_enc, "pipeline_encode_flip": pipe_enc_flip, "bare_encode": bare_enc},
        "ratio_train_pipeline_vs_bare": pipe_train / bare_train,
        "ratio_encode_pipeline_vs_bare": pipe_enc / bare_enc,
        "note": (f"pipeline_encode averages the {p.tta} test-time views (ten_crop: 10 forwards per photo, flip: 2), "
                 "bare_encode runs one; pipeline_train uses channels_last and bf16 autocast when configured (precision above), bare_train neither"),
    }
    write_json(out, args.out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
