"""Errors that name the fix (#24): what a server that answers the wrong way, or dies, is told as."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from heartbeat_desktop.core.ports import LLMError, LLMRequest
from heartbeat_desktop.llm.openai_client import OpenAICompatibleClient
from tests.support.provider_servers import ProviderServer, Status


def _ask(client: OpenAICompatibleClient) -> LLMError:
    request = LLMRequest("smollm2", "Answer briefly.", "Say hi.", None, 16, 0.0, 30.0)
    with pytest.raises(LLMError) as caught:
        client.chat(request)
    return caught.value


def test_a_server_that_dies_mid_request_is_said_in_words(tmp_path: Path) -> None:
    """A server killed while it answered: "HTTP error talking to llama: RemoteProtocolError" before."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def die() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"choi')  # then the process is gone
        conn.close()

    threading.Thread(target=die, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    error = _ask(OpenAICompatibleClient("llama", url, None))
    listener.close()
    assert "closed the connection before its reply was complete" in str(error), error
    assert "RemoteProtocolError" not in str(error)


def test_a_url_without_v1_is_told_where_the_server_answers() -> None:
    server = ProviderServer("openai", key=None, models=("smollm2",))
    try:
        base = server.base_url.removesuffix("/v1")
        error = _ask(OpenAICompatibleClient("llama", base, None))
    finally:
        server.stop()
    assert f"llama has no API at {base}; it answers at {base}/v1" in str(error)
    assert "pick a model" not in str(error)


def test_a_404_that_means_what_it_says_is_left_alone() -> None:
    """At the right URL a 404 is the model's: the server is not asked twice, and the error says so."""
    server = ProviderServer("openai", key=None, models=("smollm2",))
    server.script(Status(404, "The model `smollm2` does not exist"))
    try:
        error = _ask(OpenAICompatibleClient("llama", server.base_url, None))
    finally:
        server.stop()
    assert error.kind == "model_not_found" and "it answers at" not in str(error)
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]
