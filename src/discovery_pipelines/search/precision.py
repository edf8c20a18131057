"""Numeric precision of model inference and training: fp32 everywhere, or bfloat16 autocast where the
hardware runs it natively.

bfloat16 (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training") keeps fp32's 8-bit
exponent and cuts the mantissa to 7 bits. Under ``torch.autocast`` the matrix multiplications run in
bf16 while weights, layer norms, softmax and the optimiser state stay fp32 (mixed precision,
Micikevicius et al. 2018). On CPUs with AMX or AVX-512 BF16 (Intel Sapphire Rapids and later, AMD Zen 4
and later) oneDNN executes those products natively; on older CPUs bf16 is emulated and slower than fp32,
so ``auto`` picks it only where it is native.

Measured on all-MiniLM-L6-v2, 2 cores with AMX (see docs/finetune.md): catalogue encoding ~3x faster with
embeddings at cosine >= 0.9999 to fp32, MNRL training ~1.5x faster.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

PRECISIONS = ("auto", "fp32", "bf16")
ENV_VAR = "DISCOVERY_PRECISION"


@functools.cache
def _cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AMX-BF16 or AVX512-BF16 and torch's oneDNN reports bf16 support."""
    try:
        flags = set()
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return False
    if not ({"amx_bf16", "avx512_bf16"} & flags):
        return False
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str | None = None) -> str:
    """``"fp32"`` or ``"bf16"`` for a requested ``precision``.

    Args:
        precision: ``"fp32"`` or ``"bf16"`` (used as given), or ``"auto"`` / ``None``: the value of the
            ``DISCOVERY_PRECISION`` environment variable when it names one, else ``bf16`` on a CUDA device
            with bf16 support or on a CPU with native bf16 (AMX / AVX512-BF16), else ``fp32``.

    Raises:
        ValueError: an unknown precision name.
    """
    p = (precision if precision is not None else "auto").strip().lower()
    source = "argument"
    if p == "auto":   # a machine-wide choice in the environment decides what "auto" means
        p, source = os.environ.get(ENV_VAR, "auto").strip().lower(), ENV_VAR
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {p!r} (from {source})")
    if p != "auto":
        return p
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_has_native_bf16() else "fp32"


@contextlib.contextmanager
def autocast(precision: str | None = None, device_type: str = "cpu") -> Iterator[str]:
    """Context in which model forward passes run at ``resolve_precision(precision)``; yields the name."""
    p = resolve_precision(precision)
    if p == "fp32":
        yield p
        return
    import torch

    with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
        yield p
