"""A hostile model server cannot hold a run past its deadline, fill the app's memory, or outlive Cancel.

Each provider client against a loopback server that trickles bytes without ever ending a line, or floods
hundreds of megabytes. The watchdog must cut the connection at the deadline, the byte counter at the cap.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
import zlib

import pytest

from heartbeat_desktop.core.decision_schema import DecisionSchema
from heartbeat_desktop.core.ports import LLMError, LLMRequest
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.llm.anthropic_client import AnthropicClient
from heartbeat_desktop.llm.openai_client import OpenAICompatibleClient
from heartbeat_desktop.llm.transport import MAX_REPLY_BYTES
from tests.support import ollama_server as fake_ollama
from tests.support import provider_servers as fake_hosted


def request(model: str, timeout_s: float) -> LLMRequest:
    return LLMRequest(model, "sys", "user", DecisionSchema.everything(), 100, 0.2, timeout_s)


@pytest.fixture(params=["ollama", "openai", "anthropic"])
def hostile(request):
    """(client, model, script(behaviour), bytes_sent()) for each protocol."""
    kind = request.param
    if kind == "ollama":
        server = fake_ollama.OllamaServer().start()
        client = OllamaClient(server.url)
        kinds = {"trickle": fake_ollama.Trickle(), "flood": fake_ollama.Flood()}
        yield kind, client, "llama3.2", lambda b: server.script(kinds[b]), lambda: server.hostile_bytes_sent
    else:
        server = fake_hosted.ProviderServer(kind)
        cls = OpenAICompatibleClient if kind == "openai" else AnthropicClient
        client = cls(kind, server.base_url, "test-key")
        kinds = {"trickle": fake_hosted.Trickle(), "flood": fake_hosted.Flood()}
        yield kind, client, server.models[0], lambda b: server.script(kinds[b]), lambda: server.bytes_sent
    server.stop()


def test_a_trickling_server_is_cut_at_the_deadline(hostile) -> None:
    _kind, client, model, script, _sent = hostile
    script("trickle")
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client.chat(request(model, timeout_s=1.5))
    elapsed = time.monotonic() - t0
    assert info.value.kind == "timeout" and "did not answer within 1.5 s" in str(info.value), str(info.value)
    # both possibilities, not a guess that it is loading
    assert "it may be loading a model, or stopping or stuck; check that it is running" in info.value.hint
    assert 1.4 < elapsed < 2.5, elapsed


def test_a_flood_is_cut_at_the_size_cap(hostile) -> None:
    _kind, client, model, script, sent = hostile
    script("flood")
    with pytest.raises(LLMError) as info:
        client.chat(request(model, timeout_s=60))
    assert info.value.kind == "invalid_reply" and "sent more than 4 MiB" in str(info.value), str(info.value)
    deadline = time.monotonic() + 5
    while not sent() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The server was stopped long before its 300 MB: what it got out is the cap plus what sat in buffers.
    assert sent() and sent()[0] < MAX_REPLY_BYTES * 3, sent()


def test_cancel_cuts_the_connection_at_once(hostile) -> None:
    _kind, client, model, script, _sent = hostile
    script("trickle")
    threading.Timer(0.5, client.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client.chat(request(model, timeout_s=30))
    assert info.value.kind == "cancelled" and time.monotonic() - t0 < 1.5


class RawServer:
    """A TCP server below HTTP: it answers every request with `reply(conn)`, so a test controls the status
    line and headers byte by byte (the fake model servers only misbehave after a proper 200)."""

    def __init__(self, reply) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._reply = reply
        self.sent = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self._reply(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


def _client(kind: str, url: str):
    if kind == "ollama":
        return OllamaClient(url), "llama3.2"
    cls = OpenAICompatibleClient if kind == "openai" else AnthropicClient
    return cls(kind, url + ("/v1" if kind == "openai" else ""), "test-key"), "m"


def _trickle_headers(server: RawServer, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Padding: ")
    for _ in range(600):  # two minutes, one byte at a time, never finishing the header
        conn.sendall(b"a")
        server.sent += 1
        time.sleep(0.2)


def _bomb(megabytes: int = 200) -> bytes:
    """gzip of `megabytes` MB of zeros (about 200 KB), made a megabyte at a time so the test stays small."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    zeros = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


BOMB = _bomb()


def _gzip_bomb(server: RawServer, conn: socket.socket) -> None:
    body = BOMB
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    server.sent += len(body)


@pytest.mark.parametrize("kind", ["ollama", "openai", "anthropic"])
def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(kind: str) -> None:
    server = RawServer(_trickle_headers)
    client, model = _client(kind, server.url)
    t0 = time.monotonic()
    try:
        with pytest.raises(LLMError) as info:
            client.chat(request(model, timeout_s=1.5))
    finally:
        server.stop()
    assert info.value.kind == "timeout", str(info.value)
    assert time.monotonic() - t0 < 2.5


@pytest.mark.parametrize("kind", ["ollama", "openai", "anthropic"])
def test_a_compressed_reply_is_refused_unread(kind: str) -> None:
    server = RawServer(_gzip_bomb)
    client, model = _client(kind, server.url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(LLMError) as info:
            client.chat(request(model, timeout_s=10))
    finally:
        server.stop()
    assert info.value.kind == "invalid_reply" and "compressed" in str(info.value), str(info.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 100, grown_mb  # inflating it would have taken 200 MB


@pytest.mark.parametrize("call", ["version", "list_models", "pull"])
def test_ollamas_other_calls_are_bounded_too(call: str) -> None:
    """Found by the re-check: Test connection, the model list, `provider test` and Pull used plain per-read
    timeouts, so a server trickling its headers hung them for ever."""
    server = RawServer(_trickle_headers)
    client = OllamaClient(server.url)
    t0 = time.monotonic()
    try:
        with pytest.raises(LLMError) as info:
            if call == "pull":
                client.pull("m", lambda *_: None, timeout_s=1.5)
            else:
                getattr(client, call)(timeout_s=1.5)
    finally:
        server.stop()
    assert info.value.kind == "timeout", str(info.value)
    assert time.monotonic() - t0 < 2.5


def test_cancelling_a_pull_cuts_it_at_once() -> None:
    server = RawServer(_trickle_headers)
    client = OllamaClient(server.url)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(LLMError) as info:
            client.pull("m", lambda *_: None, cancel=cancel, timeout_s=60)
    finally:
        server.stop()
    assert info.value.kind == "cancelled" and time.monotonic() - t0 < 1.5
