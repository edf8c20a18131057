#!/usr/bin/env bash
# Create .venv with every pinned dependency (CPU torch), install the project, and (with --browser)
# Debian's chromium for the kedro-viz browser test. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -m pip install -q --disable-pip-version-check uv==0.13.8
UV="$PY -m uv"
[ -x .venv/bin/python ] || $UV venv -q -p "$PY" .venv
# Every package comes from requirements.lock (generated from pyproject.toml by scripts/lock.sh) and must match
# its sha256 hash. torch, the CPU build, comes from exactly one source of its own, installed first and alone:
# the machine's local wheel folder /opt/wheels when it holds the pinned file, else the page of PyTorch's CPU
# index that lists torch only. Everything else comes from the package registry (PyPI) alone: no second index
# is ever consulted for it, so no other index can shadow a registry package.
TORCH_REQ=$(mktemp)
trap 'rm -f "$TORCH_REQ"' EXIT
sed -n '/^torch==/,/^[^ ]/p' requirements.lock | sed '$!b;/^[^ ]/d' > "$TORCH_REQ"
TORCH_PIN=$(head -1 "$TORCH_REQ" | cut -d' ' -f1)
[ -n "$TORCH_PIN" ] || { echo "requirements.lock pins no torch" >&2; exit 1; }
if ls /opt/wheels/"$(echo "${TORCH_PIN#torch==}" | sed 's/^/torch-/')"-*.whl >/dev/null 2>&1; then
  TORCH_SRC=/opt/wheels
else
  TORCH_SRC=https://download.pytorch.org/whl/cpu/torch/
fi
$UV pip install -q --python .venv/bin/python --require-hashes --no-deps --no-index --find-links "$TORCH_SRC" -r "$TORCH_REQ"
$UV pip install -q --python .venv/bin/python --require-hashes -r requirements.lock
$UV pip install -q --python .venv/bin/python --no-deps -e .
if [[ " $* " == *" --browser "* ]] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser test will be skipped"
  else
    echo "not root: install Debian's chromium yourself for the kedro-viz browser test"
  fi
fi
if ! command -v java >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) || echo "java not installed: Spark tests will be skipped"
fi
echo "environment ready: $(.venv/bin/python -c 'import discovery_pipelines,torch,kedro,sentence_transformers as s;print("torch",torch.__version__,"kedro",kedro.__version__,"sentence-transformers",s.__version__)')"
