#!/usr/bin/env bash
# Regenerate requirements.lock (every package, pinned, with sha256 hashes) from pyproject.toml, the one source
# of pins. Run after changing [project.dependencies] or [project.optional-dependencies]; commit both files.
# Existing pins in the lock are kept unless pyproject asks otherwise (pass --upgrade to refresh them all,
# or --upgrade-package NAME for one). Resolves for Linux x86_64, CPython 3.11.
# torch is the CPU build (torch==2.13.0+cpu): it is resolved from /opt/wheels, the machine's local wheel folder,
# when present, else from the page of PyTorch's CPU index that lists torch alone (as in setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -m pip install -q --disable-pip-version-check uv==0.13.8
if [ -d /opt/wheels ]; then SRC=(--find-links /opt/wheels); else
  SRC=(--find-links https://download.pytorch.org/whl/cpu/torch/); fi
"$PY" -m uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 "${SRC[@]}" --custom-compile-command "bash scripts/lock.sh" \
  -q -o requirements.lock "$@"
