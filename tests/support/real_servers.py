"""The three real model servers the tests and `benchmarks/real_model.py` run, each in its own process.

- `ollama`: the tests' Ollama-protocol server (`tests/support/ollama_server.py`) backed by the real engine
  (`llama_engine.py`): what Ollama and LM Studio run under the hood, `format` included.
- `openai`: llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`), unchanged.
- `llama-server`: llama.cpp's own C++ server (`tests/support/llama_server_bin.py` says where it comes from),
  unchanged: what users of llama.cpp run, and what LM Studio's engine is built from.

Each runs in a child process so a native crash cannot take the test session with it, and both load the
same SmolLM2-135M file. `python -m tests.support.real_servers ollama` serves the first from the command line.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.llama_engine import MODEL_NAME, engine_available, model_path

REPO = Path(__file__).resolve().parents[2]
OPENAI_MODEL = "smollm2"


class EngineUnavailable(RuntimeError):
    """This machine cannot run the real engine; the message says why and what to run."""


@dataclass
class RealServer:
    kind: str  # "ollama" | "openai" | "llama-server"
    url: str  # Ollama: the host; OpenAI-compatible: the base URL ending in /v1
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def alive(self) -> bool:
        return self.process.poll() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineUnavailable(f"model server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise EngineUnavailable(f"model server did not come up within {timeout_s:g} s: {log_path.read_text()[-2000:]}")


def start(kind: str, log_dir: Path, threads: int | None = None, n_ctx: int = 4096) -> RealServer:
    """Start one real server and wait until it answers. Raises EngineUnavailable. `n_ctx` is the
    OpenAI-compatible server's window (llama-cpp-python's own default is 2048)."""
    why = engine_available()
    if why:
        raise EngineUnavailable(why)
    gguf = model_path()
    assert gguf is not None
    port = _free_port()
    log_path = log_dir / f"{kind}-{port}-server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if kind == "ollama":
        cmd = [sys.executable, "-m", "tests.support.real_servers", "ollama", "--port", str(port)]
        if threads:
            cmd += ["--threads", str(threads)]
        url, probe, model = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api/version", MODEL_NAME
    elif kind == "openai":
        cmd = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", OPENAI_MODEL,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False", "--seed", "1",
        ]  # fmt: skip
        if threads:
            cmd += ["--n_threads", str(threads)]
        url, probe, model = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}/v1/models", OPENAI_MODEL
    elif kind == "llama-server":
        from tests.support import llama_server_bin

        # One thread, as llama-cpp-python's server picks on 2 cores: two threads spin on each other whenever a
        # busy machine takes a core away (measured: 3 tokens/s instead of 150 beside another process).
        binary, why = llama_server_bin.find()
        if binary is None:
            raise EngineUnavailable(why)
        cmd = [
            str(binary), "--model", str(gguf), "--alias", OPENAI_MODEL, "--host", "127.0.0.1", "--port", str(port),
            "--ctx-size", str(n_ctx), "--seed", "1", "--threads", str(threads or 1), "--parallel", "1",
        ]  # fmt: skip
        url, probe, model = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}/health", OPENAI_MODEL
    else:
        raise ValueError(kind)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    _wait_ready(probe, proc, log_path)
    return RealServer(kind, url, model, proc, log_path)


def _serve_ollama(port: int, threads: int | None = None) -> None:
    from tests.support.llama_engine import LlamaEngine
    from tests.support.ollama_server import OllamaServer

    gguf = model_path()
    if gguf is None:
        raise SystemExit(engine_available())
    server = OllamaServer(engine=LlamaEngine(gguf, threads=threads), port=port).start()
    print(f"serving {MODEL_NAME} on {server.url}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ollama"])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--threads", type=int, default=None, help="the engine's threads (default one)")
    args = parser.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    _serve_ollama(args.port, args.threads)
