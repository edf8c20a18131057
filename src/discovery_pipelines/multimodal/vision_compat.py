"""Make ``import torchvision`` (and so ``import timm`` / ``import transformers``) work with CPU torch.

The package registry ships Linux torchvision wheels built against CUDA torch only (``0.28.0+cu130``).
With the CPU torch wheel their C++ extension cannot load (it links ``libtorch_cuda``); torchvision
then skips its operators, but ``torchvision/_meta_registrations.py`` (0.28) still registers fake
kernels for ``torchvision::nms`` / ``qnms`` unconditionally and raises ``RuntimeError: operator
torchvision::nms does not exist`` at import, which also breaks ``transformers`` (it imports
torchvision when installed). :func:`install` adds an import hook that, the first time torchvision is
imported and only for that CPU-torch / CUDA-torchvision pair, declares those two operator schemas
(no kernels) first, so the pure-Python parts (``transforms.v2``, what timm and transformers use)
load. Detection operators stay unavailable, as with any broken extension; this project uses none.
``discovery_pipelines/__init__.py`` installs the hook; importing the package costs nothing more.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import re
import sys
from pathlib import Path

_LIB = None   # the torch.library fragment; kept alive because the schemas live with it


def _cuda_build_of_torchvision() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    version = Path(spec.origin).parent / "version.py"
    text = version.read_text(encoding="utf-8") if version.is_file() else ""
    m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    return bool(m and "+cu" in m.group(1))


def declare_missing_ops() -> bool:
    """Declare ``torchvision::nms`` / ``qnms`` when CPU torch meets a CUDA torchvision build.

    Returns:
        ``True`` when the schemas were declared (now or before), ``False`` when not needed.
    """
    global _LIB
    if _LIB is not None:
        return True
    if not _cuda_build_of_torchvision():
        return False
    import torch

    if torch.version.cuda is not None:
        return False
    _LIB = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        _LIB.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return True


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if fullname == "torchvision":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            declare_missing_ops()
        return None   # the regular finders locate torchvision


def install() -> None:
    """Run :func:`declare_missing_ops` just before torchvision is first imported (no-op if already imported)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())


def ensure_torchvision() -> None:
    """Import torchvision now (with the schemas declared when needed)."""
    install()
    import torchvision  # noqa: F401
