"""The real model servers, started once per session (each loads SmolLM2-135M, about a second).

Without llama-cpp-python or the model these tests skip on a developer's machine and FAIL under CI
(`CI=true`): `packaging/dev-env.sh` provides both, and CI runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.llama_engine import engine_available
from tests.support.real_servers import RealServer, start


def _require_engine() -> None:
    why = engine_available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the real-model tests must run in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def real_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The Ollama protocol on the real engine: `format` compiled by llama.cpp's grammar engine."""
    _require_engine()
    server = start("ollama", tmp_path_factory.mktemp("real-ollama"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_openai_2048(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The same server as a user starts it with no options: a 2048-token window."""
    _require_engine()
    server = start("openai", tmp_path_factory.mktemp("real-openai-2048"), n_ctx=2048)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_openai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """llama-cpp-python's own OpenAI-compatible server, unchanged."""
    _require_engine()
    server = start("openai", tmp_path_factory.mktemp("real-openai"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """llama.cpp's own C++ server, unchanged, as a keyless OpenAI-compatible provider. Its build may still
    be running in the background (packaging/dev-env.sh): these tests run last and wait for it."""
    _require_engine()
    from tests.support import llama_server_bin
    from tests.support.real_servers import EngineUnavailable

    try:
        server = start("llama-server", tmp_path_factory.mktemp("real-llama-server"))
    except EngineUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"llama-server must run in CI: {exc}")
        pytest.skip(f"{exc} (or set HEARTBEAT_LLAMA_SERVER to a llama-server binary; {llama_server_bin.VERSION})")
    yield server
    server.stop()
