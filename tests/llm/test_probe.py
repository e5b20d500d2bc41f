"""The stdlib probe (health check, Settings model list) against the loopback Ollama-protocol server and
against raw hostile TCP servers: it must keep the client's guarantees without the client."""

from __future__ import annotations

import socket
import time

import pytest

from heartbeat_desktop.core.ports import LLMError
from heartbeat_desktop.llm import probe
from tests.llm.test_deadlines import BOMB, RawServer, _gzip_bomb, _trickle_headers
from tests.support.imports import loaded_by
from tests.support.ollama_server import OllamaServer


def test_version_and_models_from_a_real_http_server(ollama: OllamaServer) -> None:
    assert probe.version(ollama.url) == "0.12.6"
    assert probe.model_names(ollama.url) == ["llama3.2:latest", "qwen3:4b"]
    assert [r.path for r in ollama.requests] == ["/api/version", "/api/tags"]


def test_a_server_that_is_down_is_unreachable_at_once() -> None:
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        probe.version("http://127.0.0.1:9")
    assert info.value.kind == "unreachable" and str(info.value).startswith("cannot reach Ollama at http://127.0.0.1:9")
    assert time.monotonic() - t0 < 1


def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline() -> None:
    server = RawServer(_trickle_headers)
    t0 = time.monotonic()
    try:
        with pytest.raises(LLMError) as info:
            probe.version(server.url, timeout_s=1.0)
    finally:
        server.stop()
    assert info.value.kind == "timeout" and "did not answer within 1 s" in str(info.value)
    assert time.monotonic() - t0 < 1.8


def test_a_gzip_bomb_is_refused_and_a_flood_is_capped() -> None:
    server = RawServer(_gzip_bomb)
    try:
        with pytest.raises(LLMError, match="compressed reply"):
            probe.model_names(server.url)
    finally:
        server.stop()
    assert len(BOMB) < probe.TAGS_MAX_BYTES  # refused for its encoding, not its size

    def flood(server: RawServer, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        for _ in range(200):
            conn.sendall(b"x" * 65536)
            server.sent += 65536

    server = RawServer(flood)
    try:
        with pytest.raises(LLMError, match="more than 64 KiB"):
            probe.version(server.url)
    finally:
        server.stop()
    assert server.sent < 13 * 1024 * 1024  # it stopped reading; the server's writes then fail


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", "answered HTTP 404: not found"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>", "did not answer with JSON"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "closed the connection before its reply was complete"),
        (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ver\r\n', "did not answer with JSON"),
        (
            b"HTTP/1.1 301 Moved\r\nLocation: http://other:11434/\r\nContent-Length: 0\r\n\r\n",
            "redirects to http://other",
        ),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"models":5}', "not as Ollama does"),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 46\r\n\r\n<html><body><h1>Bad gateway</h1></body></html>",
            "answered HTTP 502: Bad gateway$",
        ),
    ],
)
def test_what_is_not_ollama_says_so(reply: bytes, message: str) -> None:
    server = RawServer(lambda _s, conn: conn.sendall(reply))
    try:
        with pytest.raises(LLMError, match=message):
            probe.version(server.url)
    finally:
        server.stop()


def test_model_names_that_could_pass_for_others_are_left_out() -> None:
    body = b'{"models": [{"model": "llama3.2:latest"}, {"model": "\\u202elive\\nx"}, {"name": "qwen3:4b"}]}'
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    server = RawServer(lambda _s, conn: conn.sendall(reply))
    try:
        assert probe.model_names(server.url) == ["llama3.2:latest", "qwen3:4b"]
    finally:
        server.stop()


def test_a_chunked_reply_is_read() -> None:
    body = b'{"version": "0.9.1"}'
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + (
        f"{8:x}\r\n".encode() + body[:8] + b"\r\n" + f"{len(body) - 8:x}\r\n".encode() + body[8:] + b"\r\n0\r\n\r\n"
    )
    server = RawServer(lambda _s, conn: conn.sendall(chunked))
    try:
        assert probe.version(server.url) == "0.9.1"
    finally:
        server.stop()


def test_the_idle_tray_app_never_imports_the_model_clients() -> None:
    """The launch path (no arguments → the tray) and everything the tray builds at start: no httpx, no
    ollama library, no windows, no API server, no runner (issue #17)."""
    heavy = (
        "httpx", "ollama", "heartbeat_desktop.qt.windows.settings_dialog", "heartbeat_desktop.api.server",
        "heartbeat_desktop.core.runner", "heartbeat_desktop.cli.parser", "importlib.metadata",
    )  # fmt: skip
    assert loaded_by("heartbeat_desktop.cli, heartbeat_desktop.qt.launch", heavy) == []


def test_an_openai_compatible_server_answers_by_its_model_list_without_a_key() -> None:
    """#24: the health check of a non-Ollama provider asks its model list and names the provider; a server
    that wants a key still answers (401 is an answer), and none is ever sent."""
    from tests.support.provider_servers import ProviderServer

    keyless = ProviderServer("openai", key=None, models=("smollm2",))
    keyed = ProviderServer("anthropic", key="sk-ant-test")
    try:
        assert probe.answers(keyless.base_url, "openai", "llama") == f"llama at {keyless.base_url}: 1 model"
        assert probe.answers(keyed.base_url, "anthropic", "claude") == f"claude answers at {keyed.base_url}"
        assert all("authorization" not in {k.lower() for k in r["headers"]} for r in keyed.requests)
        assert [r["path"] for r in keyless.requests] == ["/v1/models"]
    finally:
        keyless.stop()
        keyed.stop()
    with pytest.raises(LLMError) as caught:
        probe.answers("http://127.0.0.1:9/v1", "openai", "llama")
    assert caught.value.kind == "unreachable" and "cannot reach llama at http://127.0.0.1:9/v1" in str(caught.value)
    assert "ollama" not in str(caught.value).lower()
