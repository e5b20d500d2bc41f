"""A hostile model server cannot hold a run past its deadline, fill the app's memory, or outlive Cancel.

Each provider client against a loopback server that trickles bytes without ever ending a line, or floods
hundreds of megabytes. The watchdog must cut the connection at the deadline, the byte counter at the cap.
"""

from __future__ import annotations

import threading
import time

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
