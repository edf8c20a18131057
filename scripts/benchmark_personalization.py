"""Two-tower training examples/s and recall queries/s: the project's code vs a bare torch loop and bare faiss.

Reads the split lines and text embeddings a `kedro run --pipeline=personalization` wrote (default
completejourney), then measures on the same data:

* ``train_two_tower`` (the pipeline's trainer: snapshot gathering, log-Q loss, OneCycle, progress bar)
  for ``--steps`` steps vs a bare loop over the same model and tensors (no scheduler, no bar, same loss);
* ``faiss_recall`` (builds an IndexFlatIP through ``search.index.build_faiss_index`` and searches) vs a
  bare ``faiss.IndexFlatIP`` search of the same vectors, batched (median of 5 warm runs each) and one query
  at a time.

Writes ``results/personalization/benchmark.json`` and ``.md`` with the command, machine, load and date.
Usage: ``.venv/bin/python scripts/benchmark_personalization.py [--dataset completejourney] [--steps 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from discovery_pipelines.personalization import two_tower as tt  # noqa: E402
from discovery_pipelines.personalization.split import stage_data  # noqa: E402


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    flags = next((ln for ln in lscpu.splitlines() if ln.startswith("Flags")), "")
    return {"cpu": model, "amx": "amx_tile" in flags, "avx512": "avx512f" in flags, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__}


def bare_loop(sd, text, steps: int, batch: int, history_len: int, device: str) -> float:
    """Examples/s of a minimal loop: same model (title embeddings reduced to 64 dims, as the trainer does),
    same examples and loss; no scheduler or progress."""
    snaps, snap_of, item_of = tt.training_examples(sd, 20, history_len)
    counts = np.bincount(item_of, minlength=sd.n_items)
    dev = torch.device(device)
    log_q = torch.tensor(np.log(np.maximum(counts, 1) / counts.sum()), dtype=torch.float32, device=dev)
    model = tt.TwoTower(sd.n_items, torch.tensor(tt.reduce_text(text, 64))).to(dev)  # the trainer's default text_dim
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    t = {k: torch.tensor(getattr(snaps, k), device=dev) for k in ("hist", "rec", "dow", "hour")}
    sn_all, it_all = torch.tensor(snap_of, device=dev), torch.tensor(item_of, device=dev)
    g = torch.Generator(device="cpu").manual_seed(0)
    t0, n = time.perf_counter(), 0
    for _ in range(steps):
        b = torch.randint(0, len(item_of), (batch,), generator=g).to(dev)
        sn, it = sn_all[b], it_all[b]
        loss = tt.sampled_softmax_logq_loss(model.user_vectors(t["hist"][sn], t["rec"][sn], t["dow"][sn], t["hour"][sn]),
                                            model.item_vectors(it), it, log_q[it], model.tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += batch
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="completejourney")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(ROOT / "results" / "personalization"))
    a = ap.parse_args()
    base = ROOT / "data"
    lines = pd.read_parquet(base / "03_primary" / "personalization" / a.dataset / "split_lines.parquet")
    with open(base / "04_feature" / "personalization" / a.dataset / "item_text_embeddings.pkl", "rb") as f:
        text = pickle.load(f)
    sd = stage_data(lines, "valid")
    load_before = os.getloadavg()
    n_ex = len(tt.training_examples(sd, 20, 64)[2])
    epochs_for_steps = max(1, int(np.ceil(a.steps * a.batch / n_ex)))
    t0 = time.perf_counter()
    model, rep = tt.train_two_tower(sd, text, epochs=epochs_for_steps, batch_size=a.batch, device=a.device,
                                    max_seconds=None, progress=False)
    project_eps = rep.examples_per_s
    bare_eps = bare_loop(sd, text, a.steps, a.batch, 64, a.device)
    # recall
    test = stage_data(lines, "test")
    iv = tt.all_item_vectors(model, sd.n_items)
    uv = tt.user_vectors(model, tt.stage_snapshots(test, 64))
    import faiss

    idx = faiss.IndexFlatIP(iv.shape[1])
    idx.add(iv)
    idx.search(uv, 100)  # warm-up: OpenMP threads, page faults; both contenders time warm runs

    def median_qps(fn, repeats: int = 5) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return len(uv) / float(np.median(times))

    project_qps = median_qps(lambda: tt.faiss_recall(iv, uv, 100))
    bare_qps = median_qps(lambda: idx.search(uv, 100))
    t3 = time.perf_counter()
    for r in range(min(500, len(uv))):
        idx.search(uv[r : r + 1], 100)
    single_qps = min(500, len(uv)) / (time.perf_counter() - t3)
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
        "dataset": a.dataset, "device": a.device, "batch": a.batch, "n_items": int(sd.n_items),
        "n_train_examples": int(n_ex),
        "two_tower_examples_per_s": {"project_trainer": round(project_eps, 1), "bare_torch_loop": round(bare_eps, 1),
                                     "ratio": round(project_eps / bare_eps, 3), "project_examples": int(rep.examples)},
        "recall_queries_per_s": {"project_faiss_recall_incl_index_build": round(project_qps, 1),
                                 "bare_faiss_batched": round(bare_qps, 1), "bare_faiss_one_at_a_time": round(single_qps, 1),
                                 "k": 100, "n_queries": int(len(uv))},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    d = Path(a.out)
    d.mkdir(parents=True, exist_ok=True)
    tag = "" if a.device == "cpu" else f"_{a.device}"
    (d / f"benchmark{tag}.json").write_text(json.dumps(out, indent=2))
    md = [f"# personalization benchmark ({a.dataset}, {a.device})", "", f"`{out['command']}` on {out['machine']['cpu']} "
          f"(AMX {out['machine']['amx']}), {out['date_utc']}, load average before {load_before[0]:.2f}", "",
          "| measure | project | bare | ratio |", "|---|---|---|---|",
          f"| two-tower training examples/s | {project_eps:,.0f} | {bare_eps:,.0f} | {project_eps / bare_eps:.2f} |",
          f"| recall queries/s (k=100, exact IP, batched) | {project_qps:,.0f} | {bare_qps:,.0f} | {project_qps / bare_qps:.2f} |",
          f"| recall queries/s, one query at a time (bare faiss) | | {single_qps:,.0f} | |", ""]
    (d / f"benchmark{tag}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
