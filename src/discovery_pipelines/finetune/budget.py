"""Time budgets for the CPU default run: what the CPU is, which precision is faster on it, and how many
optimisation steps fit a stage's wall-clock budget at the throughput measured by a short probe.

The same default job runs on 2-core CPUs with AMX (bf16 matrix tiles), with AVX-512 BF16 only, or with
AVX2 only; training throughput differs ~2x between them, so a fixed number of steps cannot fit one
wall-clock budget everywhere. Stages with a ``budget_seconds`` measure seconds per step at each usable
precision, keep the faster, and cap their steps at ``budget / seconds_per_step`` (the learning-rate
schedule is then planned for that many steps, not cut mid-way). Every choice is logged and reported.
"""

from __future__ import annotations

import functools
import logging
import math
import platform
from collections.abc import Callable
from typing import Any

from discovery_pipelines.search.precision import resolve_precision

log = logging.getLogger(__name__)


@functools.cache
def cpu_features() -> dict[str, Any]:
    """``{"model": str, "amx": bool, "avx512_bf16": bool, "avx512": bool, "avx2": bool, "class": str}``
    from ``/proc/cpuinfo``; ``class`` is ``amx``, ``avx512_bf16``, ``avx512``, ``avx2`` or ``other``."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                if flags and line.startswith("model name"):
                    break
    except OSError:
        pass
    out = {"model": model, "amx": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
           "avx512": "avx512f" in flags, "avx2": "avx2" in flags}
    out["class"] = next((k for k in ("amx", "avx512_bf16", "avx512", "avx2") if out[k]), "other")
    return out


def choose_precision(requested: str, probe: Callable[[str], float], what: str) -> dict[str, Any]:
    """The precision a stage trains at, from measured throughput.

    ``requested`` other than ``auto`` (or a ``DISCOVERY_PRECISION`` setting) is used as is. With ``auto``
    on a CPU with native bf16 (AMX or AVX-512 BF16), ``probe(p)`` (seconds per step at precision ``p``)
    is measured for fp32 and bf16 and the faster wins; elsewhere (AVX2: bf16 emulated) fp32 is used
    without probing. On CUDA, ``auto`` resolves as :func:`resolve_precision` does.

    Returns:
        ``{"precision", "seconds_per_step", "probe": {precision: s/step}, "cpu": cpu_features(), "reason"}``.
    """
    import os

    import torch

    cpu = cpu_features()
    env = os.environ.get("DISCOVERY_PRECISION", "auto").strip().lower()
    if requested != "auto" or env != "auto" or torch.cuda.is_available():
        p = resolve_precision(requested)
        sps = probe(p)
        out = {"precision": p, "seconds_per_step": sps, "probe": {p: sps}, "cpu": cpu,
               "reason": "as configured" if requested != "auto" or env != "auto" else "CUDA"}
    elif resolve_precision("auto") == "bf16":
        probes = {p: probe(p) for p in ("fp32", "bf16")}
        p = min(probes, key=probes.get)
        out = {"precision": p, "seconds_per_step": probes[p], "probe": probes, "cpu": cpu,
               "reason": f"faster of fp32 / bf16 measured on {cpu['class']}"}
    else:
        sps = probe("fp32")
        out = {"precision": "fp32", "seconds_per_step": sps, "probe": {"fp32": sps}, "cpu": cpu,
               "reason": f"no native bf16 ({cpu['class']})"}
    log.info("%s: CPU %s (AMX %s, AVX512-BF16 %s) -> %s at %.2f s/step (%s; probe %s)", what, cpu["model"],
             cpu["amx"], cpu["avx512_bf16"], out["precision"], out["seconds_per_step"], out["reason"],
             {k: round(v, 3) for k, v in out["probe"].items()})
    return out


def plan_steps(full_steps: int, seconds_per_step: float | None, budget_seconds: float | None) -> dict[str, Any]:
    """Steps to train: ``full_steps`` unless ``budget_seconds / seconds_per_step`` is fewer.

    Returns:
        ``{"steps", "full_steps", "seconds_per_step", "budget_seconds", "estimated_seconds", "reason"}``.

    Raises:
        ValueError: ``full_steps`` < 1 or a non-positive budget.
    """
    if full_steps < 1:
        raise ValueError(f"plan_steps: full_steps must be >= 1, got {full_steps}")
    if budget_seconds is not None and budget_seconds <= 0:
        raise ValueError(f"plan_steps: budget_seconds must be > 0, got {budget_seconds}")
    steps, reason = full_steps, "full schedule"
    if budget_seconds is not None and seconds_per_step:
        fit = max(1, int(math.floor(budget_seconds / seconds_per_step)))
        if fit < full_steps:
            steps, reason = fit, f"capped by the {budget_seconds:.0f} s budget"
        else:
            reason = f"full schedule fits the {budget_seconds:.0f} s budget"
    return {"steps": steps, "full_steps": full_steps, "seconds_per_step": seconds_per_step,
            "budget_seconds": budget_seconds,
            "estimated_seconds": steps * seconds_per_step if seconds_per_step else None, "reason": reason}
