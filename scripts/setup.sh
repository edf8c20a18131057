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
# The CPU build of torch: a local wheel folder when the machine has one, else PyTorch's CPU index.
FIND=()
if [ -d /opt/wheels ]; then FIND=(--find-links /opt/wheels); else FIND=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match); fi
$UV pip install -q --python .venv/bin/python "${FIND[@]}" -r requirements.lock
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
echo "environment ready: $(.venv/bin/python -c 'import torch,kedro,sentence_transformers as s;print("torch",torch.__version__,"kedro",kedro.__version__,"sentence-transformers",s.__version__)')"
