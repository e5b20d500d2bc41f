"""One call at a time per local model server (llm/server_gate.py), over the wire with real HTTP servers.

Found living with the app: two heartbeats asking one llama.cpp server at the same moment overflowed the
context its slots share, and both failed. Each router here is its own (as each run's is); the gate is what
they share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from heartbeat_desktop.core.decision_schema import DecisionSchema
from heartbeat_desktop.core.ports import LLMError, LLMReply, LLMRequest
from heartbeat_desktop.core.providers import Provider
from heartbeat_desktop.llm.router import ModelRouter
from heartbeat_desktop.llm.server_gate import ServerGate
from tests.support.keys import StaticKeys
from tests.support.ollama_server import OllamaServer, Reply

NONE = '{"action": "none", "reason": "nothing needs attention"}'


def _request(model: str = "llama3.2:latest", timeout_s: float = 30.0) -> LLMRequest:
    return LLMRequest(model, "system", "prompt", DecisionSchema.everything(), 100, 0.0, timeout_s)


@pytest.fixture()
def servers() -> Iterator[tuple[OllamaServer, OllamaServer]]:
    a, b = OllamaServer().start(), OllamaServer().start()
    yield a, b
    a.stop()
    b.stop()


def _in_thread(router: ModelRouter, request: LLMRequest) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def ask() -> None:
        try:
            out.append(router.chat(request))
        except LLMError as exc:
            out.append(exc)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread, out


def _wait(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_two_runs_asking_one_server_take_turns(servers: tuple[OllamaServer, OllamaServer]) -> None:
    server, _ = servers
    gate = ServerGate()
    server.script(Reply(NONE, delay_s=2.0), Reply(NONE))
    first, first_out = _in_thread(ModelRouter([], server.url, StaticKeys(), gate=gate), _request())
    _wait(lambda: len(server.chat_requests()) == 1)
    second, second_out = _in_thread(ModelRouter([], server.url, StaticKeys(), gate=gate), _request())
    time.sleep(1.0)
    # The first is still being answered: the second has not reached the server (without the gate it had).
    assert first.is_alive() and len(server.chat_requests()) == 1
    first.join(20)
    second.join(20)
    assert [type(o) for o in (*first_out, *second_out)] == [LLMReply, LLMReply]
    assert len(server.chat_requests()) == 2


def test_two_servers_are_asked_side_by_side(servers: tuple[OllamaServer, OllamaServer]) -> None:
    slow, fast = servers
    gate = ServerGate()
    slow.script(Reply(NONE, delay_s=5.0))
    lab = Provider("lab", "ollama", fast.url)
    held, held_out = _in_thread(ModelRouter([lab], slow.url, StaticKeys(), gate=gate), _request())
    _wait(lambda: len(slow.chat_requests()) == 1)
    reply = ModelRouter([lab], slow.url, StaticKeys(), gate=gate).chat(_request("lab:llama3.2:latest"))
    assert isinstance(reply, LLMReply) and reply.provider == "lab"
    assert held.is_alive() and not held_out  # the other server's call went on meanwhile
    held.join(20)


def test_a_call_that_waits_its_whole_timeout_says_the_server_was_busy(
    servers: tuple[OllamaServer, OllamaServer],
) -> None:
    server, _ = servers
    gate = ServerGate()
    server.script(Reply(NONE, delay_s=4.0))
    first, _ = _in_thread(ModelRouter([], server.url, StaticKeys(), gate=gate), _request())
    _wait(lambda: len(server.chat_requests()) == 1)
    with pytest.raises(LLMError) as caught:
        ModelRouter([], server.url, StaticKeys(), gate=gate).chat(_request(timeout_s=1.0))
    assert caught.value.kind == "timeout" and "busy answering another request" in caught.value.message
    assert "llm_timeout" in caught.value.hint
    assert len(server.chat_requests()) == 1  # it never asked
    first.join(20)


def test_a_waiting_call_can_be_cancelled(servers: tuple[OllamaServer, OllamaServer]) -> None:
    server, _ = servers
    gate = ServerGate()
    server.script(Reply(NONE, delay_s=4.0))
    first, _ = _in_thread(ModelRouter([], server.url, StaticKeys(), gate=gate), _request())
    _wait(lambda: len(server.chat_requests()) == 1)
    waiting = ModelRouter([], server.url, StaticKeys(), gate=gate)
    second, second_out = _in_thread(waiting, _request())
    time.sleep(0.5)
    waiting.cancel()
    second.join(5)
    assert not second.is_alive()
    assert isinstance(second_out[0], LLMError) and second_out[0].kind == "cancelled"
    first.join(20)


def test_hosted_services_are_not_gated(servers: tuple[OllamaServer, OllamaServer]) -> None:
    """A built-in hosted provider serves many callers: its calls never wait for each other."""
    server, _ = servers
    gate = ServerGate()
    server.script(Reply(NONE, delay_s=3.0), Reply(NONE))
    hosted = Provider("cloud", "ollama", server.url, builtin=True)
    first, _ = _in_thread(
        ModelRouter([hosted], None, StaticKeys(cloud="k"), gate=gate), _request("cloud:llama3.2:latest")
    )
    _wait(lambda: len(server.chat_requests()) == 1)
    reply = ModelRouter([hosted], None, StaticKeys(cloud="k"), gate=gate).chat(_request("cloud:llama3.2:latest"))
    assert isinstance(reply, LLMReply) and first.is_alive()
    first.join(20)
