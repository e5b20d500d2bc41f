"""Each provider over the wire against a loopback server speaking its protocol."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.decision_schema import DecisionSchema
from heartbeat_desktop.core.ports import LLMError, LLMRequest
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.llm.anthropic_client import AnthropicClient
from heartbeat_desktop.llm.openai_client import OpenAICompatibleClient
from heartbeat_desktop.llm.router import ModelRouter, split_model
from heartbeat_desktop.store import SqliteStore
from tests.support.keys import StaticKeys, sends_key
from tests.support.ollama_server import OllamaServer, Reply
from tests.support.provider_servers import Answer, Hang, ProviderServer, Status

DECISION = {"action": "post", "rule": 1, "title": "Hosted", "content": "From a hosted model.", "reason": "r"}


def request(model: str, timeout_s: float = 5.0) -> LLMRequest:
    return LLMRequest(
        model=model,
        system="sys",
        prompt="user",
        schema=DecisionSchema.everything([7]),
        max_tokens=300,
        temperature=0.2,
        timeout_s=timeout_s,
    )


@pytest.fixture(params=["openai", "anthropic"])
def server(request) -> Iterator[ProviderServer]:
    s = ProviderServer(request.param)
    yield s
    s.stop()


def client_for(server: ProviderServer, key: str = "test-key"):
    cls = OpenAICompatibleClient if server.protocol == "openai" else AnthropicClient
    return cls(server.protocol, server.base_url, key)


def model_of(server: ProviderServer) -> str:
    return server.models[0]


def test_success_with_structured_output_and_usage(server: ProviderServer) -> None:
    # Both shapes wrap the decision (strict mode and tool schemas want an object at the root); the client
    # hands the runner the bare decision.
    wrapped = {"decision": DECISION}
    server.script(Answer(text=json.dumps(wrapped), tool_input=wrapped if server.protocol == "anthropic" else None))
    req = request(model_of(server))
    reply = client_for(server).chat(req)
    assert json.loads(reply.content) == DECISION
    assert (reply.prompt_tokens, reply.completion_tokens) == ((111, 22) if server.protocol == "openai" else (99, 17))
    body = server.requests[-1]["body"]
    assert req.schema is not None
    if server.protocol == "openai":
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
        # A local server: the strict structure with the lengths bounded (api.openai.com starts without them).
        assert body["response_format"]["json_schema"]["schema"] == req.schema.for_openai_bounded()
        assert reply.output_format == "json_schema_bounded" and reply.notices == ()
        assert body["max_tokens"] == 300 and body["temperature"] == 0.2
        assert server.requests[-1]["headers"]["Authorization"] == "Bearer test-key"
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "record_decision"}
        assert body["tools"][0]["input_schema"] == req.schema.for_anthropic()
        assert body["tools"][0]["input_schema"]["required"] == ["decision"]
        assert body["system"] == "sys" and server.requests[-1]["headers"]["x-api-key"] == "test-key"
        assert server.requests[-1]["headers"]["anthropic-version"] == "2023-06-01"


def test_bad_key_is_a_clear_auth_error_without_the_key(server: ProviderServer) -> None:
    with pytest.raises(LLMError) as info:
        client_for(server, key="sk-wrong-SECRET-1234").chat(request(model_of(server)))
    assert info.value.kind == "auth" and "HTTP 401" in str(info.value)
    assert "set-key" in str(info.value) and "SECRET" not in str(info.value) and "SECRET" not in repr(info.value)


def test_429_with_retry_after_is_retried(server: ProviderServer) -> None:
    server.script(
        Status(429, "slow down", {"Retry-After": "0.3"}),
        Answer(text='{"action": "none", "reason": "x"}', tool_input={"action": "none", "reason": "x"}),
    )
    t0 = time.monotonic()
    reply = client_for(server).chat(request(model_of(server)))
    assert time.monotonic() - t0 >= 0.3 and "none" in reply.content
    assert len([r for r in server.requests if r["body"]]) == 2


def test_429_past_the_deadline_fails_with_the_reason(server: ProviderServer) -> None:
    server.script(Status(429, "quota exceeded", {"Retry-After": "20"}))
    with pytest.raises(
        LLMError, match=re.escape("rate-limiting requests (HTTP 429) (retry after 20 s): quota exceeded")
    ):
        client_for(server).chat(request(model_of(server), timeout_s=2))


def test_a_retry_after_that_is_no_number_of_seconds_is_not_said_as_one(server: ProviderServer) -> None:
    for value in ("nan", "inf"):
        server.script(Status(429, "slow down", {"Retry-After": value}))
        with pytest.raises(LLMError) as info:
            client_for(server).chat(request(model_of(server), timeout_s=2))
        assert "rate-limiting requests (HTTP 429): slow down" in str(info.value) and value not in str(info.value)


def test_500_and_unknown_model(server: ProviderServer) -> None:
    server.script(Status(500, "overloaded"))
    with pytest.raises(LLMError, match="returned HTTP 500: overloaded"):
        client_for(server).chat(request(model_of(server)))
    with pytest.raises(LLMError) as info:
        client_for(server).chat(request("no-such-model"))
    assert info.value.kind == "model_not_found"


def test_timeout(server: ProviderServer) -> None:
    server.script(Hang(30))
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client_for(server).chat(request(model_of(server), timeout_s=1))
    assert info.value.kind == "timeout" and time.monotonic() - t0 < 5


def test_list_models(server: ProviderServer) -> None:
    assert client_for(server).list_models() == sorted(server.models)


def test_a_redirect_to_another_origin_is_refused_and_never_gets_the_key(server: ProviderServer) -> None:
    """#25 item 3: httpx drops Authorization on a cross-origin redirect but keeps x-api-key (Anthropic's
    key). A 307 to another port is refused before anything is sent there, on the chat and on the model list,
    and the error says where it pointed."""
    elsewhere = ProviderServer(server.protocol)
    server.redirect_to = elsewhere.base_url.removesuffix("/v1")
    client = client_for(server, key="sk-ant-secret-key-1234")
    try:
        with pytest.raises(LLMError) as chat:
            client.chat(request(model_of(server)))
        with pytest.raises(LLMError) as listing:
            client.list_models()
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()
    origin = server.redirect_to
    for caught in (chat, listing):
        assert f"redirected the request to {origin}, another address" in str(caught.value)
        assert "sk-ant" not in str(caught.value)


def test_the_refused_redirect_names_the_whole_command_to_follow_it(server: ProviderServer) -> None:
    """The fix a user copies must run as it is: `provider add` needs --kind, and the base path (/v1) stays."""
    elsewhere = ProviderServer(server.protocol)
    server.redirect_to = elsewhere.base_url.removesuffix("/v1")
    try:
        with pytest.raises(LLMError) as caught:
            client_for(server).chat(request(model_of(server)))
    finally:
        elsewhere.stop()
    assert caught.value.hint == (
        f"if that is where the server now is, point {server.protocol} at it: heartbeat-desktop provider add "
        f"{server.protocol} --kind {server.protocol} --url {elsewhere.base_url}"
    )


def test_garbled_usage_figures_do_not_lose_a_valid_decision(server: ProviderServer) -> None:
    """Found by the README-only attack (#25): a 5000-digit token count made the whole reply "not JSON", and
    a decision the model got right was lost. The counts are unknown then; a string or a negative too."""
    names = ("prompt_tokens", "completion_tokens") if server.protocol == "openai" else ("input_tokens", "output_tokens")
    for usage in ({names[0]: "@digits:5000", names[1]: 7}, {names[0]: "many", names[1]: -3}, {names[0]: True}):
        server.script(Answer(text=json.dumps({"decision": DECISION}), tool_input={"decision": DECISION}, usage=usage))
        reply = client_for(server).chat(request(model_of(server)))
        assert json.loads(reply.content) == DECISION
        assert reply.prompt_tokens is None
        assert reply.completion_tokens == (7 if usage.get(names[1]) == 7 else None)


def test_a_redirect_on_the_same_server_is_followed_with_the_key(server: ProviderServer) -> None:
    prefix = server.base_url.removesuffix("/v1")
    server.redirect_from, server.redirect_to = "/old", prefix  # /old/v1/… answers 307 to /v1/… on the same port
    server.script(Answer(text=json.dumps({"decision": DECISION}), tool_input={"decision": DECISION}))
    cls = OpenAICompatibleClient if server.protocol == "openai" else AnthropicClient
    client = cls(server.protocol, f"{prefix}/old" + ("/v1" if server.protocol == "openai" else ""), "test-key")
    reply = client.chat(request(model_of(server)))
    assert json.loads(reply.content) == DECISION
    assert [r["path"].startswith("/old") for r in server.requests] == [True, False]
    assert sends_key(server.requests[-1]["headers"])  # the key went with the request to the same server


def test_ollama_with_a_required_bearer_key() -> None:
    server = OllamaServer().start()
    server.required_key = "ollama-cloud-key"
    try:
        with pytest.raises(LLMError) as info:
            OllamaClient(server.url).chat(request("llama3.2"))
        assert info.value.kind == "auth"
        server.script(Reply('{"action": "none", "reason": "ok"}'))
        assert "none" in OllamaClient(server.url, api_key="ollama-cloud-key").chat(request("llama3.2")).content
        headers = {k.lower(): v for k, v in server.chat_requests()[-1].headers.items()}
        assert headers["authorization"] == "Bearer ollama-cloud-key"
    finally:
        server.stop()


def test_model_names_route_to_providers() -> None:
    providers = {"openai", "anthropic", "gpubox"}
    assert split_model("llama3.2", providers) == ("ollama", "llama3.2")
    assert split_model("llama3.2:latest", providers) == ("ollama", "llama3.2:latest")
    assert split_model("ollama:qwen3:4b", providers) == ("ollama", "qwen3:4b")
    assert split_model("anthropic:claude-3-haiku-20240307", providers) == ("anthropic", "claude-3-haiku-20240307")
    assert split_model("gpubox:qwen3:8b", providers) == ("gpubox", "qwen3:8b")


def test_a_heartbeat_through_the_router_records_token_usage(store: SqliteStore, data_dir: Path) -> None:
    hosted = ProviderServer("anthropic")
    try:
        hosted.script(Answer(tool_input=DECISION))
        store.providers.save("claude", "anthropic", hosted.base_url)
        store.threads.set_config("default", HeartbeatConfig(model="claude:claude-3-haiku-20240307"))
        keys = StaticKeys(claude="test-key")
        router = ModelRouter(store.providers.list(), None, keys)
        run = HeartbeatRunner(store, router, default_workspace=data_dir).run("default")
        assert run.status == "ok", run.reason
        stored = store.runs.get(run.id)
        assert (stored.prompt_tokens, stored.completion_tokens) == (99, 17)
        assert store.feed.posts()[0].title == "Hosted"
        keys.clear()
        # A provider the user added may be a keyless local server: asked without a key, the server's
        # refusal is the reason, with how to set one.
        run = HeartbeatRunner(store, ModelRouter(store.providers.list(), None, keys), default_workspace=data_dir).run(
            "default"
        )
        assert run.status == "failed" and "refused the request (no API key was sent) (HTTP 401)" in run.reason
        assert "provider set-key claude" in run.reason
        assert "x-api-key" not in {k.lower() for k in hosted.requests[-1]["headers"]}
        # The built-in hosted service cannot work without one: refused before any request is sent.
        sent = len(hosted.requests)
        store.threads.set_config("default", HeartbeatConfig(model="anthropic:claude-3-haiku-20240307"))
        run = HeartbeatRunner(store, ModelRouter(store.providers.list(), None, keys), default_workspace=data_dir).run(
            "default"
        )
        assert run.status == "failed" and "no API key set for anthropic" in run.reason
        assert len(hosted.requests) == sent
    finally:
        hosted.stop()


def test_a_model_list_that_echoes_the_key_or_a_newline_is_made_inert() -> None:
    """Found by the README-only attack: `provider models` printed a model id holding the key, and an id
    with a newline added a fake model to the list."""
    key = "sk-SECRETKEY-abcdef0123456789XYZ"
    server = ProviderServer("openai", key=key, models=(f"echo-{key}", "bad\x1b]0;X\x07\nline", "smollm2"))
    try:
        ids = OpenAICompatibleClient("hos", server.base_url, key).list_models()
    finally:
        server.stop()
    assert not any(key in i or "SECRETKEY" in i for i in ids), ids
    assert not any("\n" in i or "\x1b" in i for i in ids) and "smollm2" in ids and len(ids) == 3


def test_what_an_ollama_server_names_is_one_inert_line_too() -> None:
    """The second README-only attack (#25): the hosted clients' ids were inert, Ollama's model list, version and
    unloaded models were not — a newline in a name printed a line of its own."""
    forged = "ok\x1b[31mred\nline2"
    server = OllamaServer(models=(forged, "llama3.2:latest"), version="0.5\nFAKE LINE").start()
    server.loaded.add(forged)
    try:
        client = OllamaClient(server.url)
        names, version, unloaded = client.list_models(), client.version(), client.unload_all()
    finally:
        server.stop()
    for text in [*names, version, *unloaded]:
        assert "\n" not in text and "\x1b" not in text, text
    assert len(names) == 2 and "llama3.2:latest" in names and version == "0.5 FAKE LINE" and len(unloaded) == 1
