"""Replies that no well-behaved server sends, found by the README-only attack of #25: each one crashed a run
outside its error handling (the run stayed "started", later shown as "the app stopped"), or was taken
silently. Each now gives a recorded outcome — the decision it carried, or an invalid reply — through the
runner and a real SQLite store, over the wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.llm.anthropic_client import AnthropicClient
from heartbeat_desktop.llm.openai_client import OpenAICompatibleClient
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import Garbage, OllamaServer
from tests.support.provider_servers import ProviderServer, Raw, RawText

NONE_WITH_EMOJI = '{"action": "none", "reason": "all good \\ud83d\\ude00"}'


def _ndjson(*chunks: dict) -> Garbage:
    """An Ollama chat stream written line by line (Garbage sends any body as it is)."""
    return Garbage(body=b"".join(json.dumps(c).encode() + b"\n" for c in chunks), content_type="application/x-ndjson")


def _done(**extra: object) -> dict:
    return {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
    } | extra


def _part(text: str) -> dict:
    return {"model": "llama3.2", "message": {"role": "assistant", "content": text}, "done": False}


def test_an_emoji_split_across_two_chunks_and_a_lone_half_are_whole_text(
    runner: HeartbeatRunner, ollama, store
) -> None:
    # json.dumps writes the escapes as they came: the first chunk ends with a high surrogate, the next starts with
    # the low one. Each chunk decodes alone to a lone half; joined they are one emoji.
    ollama.script(
        _ndjson(
            _part('{"action": "none", "reason": "all good \ud83d'),
            _part('\ude00"}'),
            _done(),
        ),
        _ndjson(_part('{"action": "none", "reason": "half \ud83d"}'), _done()),
    )
    whole, lone = runner.run("default"), runner.run("default")
    assert whole.status == "ok" and store.runs.get(whole.id).raw_reply.endswith('all good 😀"}')
    assert lone.status == "ok" and "half \ufffd" in store.runs.get(lone.id).raw_reply
    assert [r.status for r in store.runs.history("default", limit=5)] == ["ok", "ok"]


def test_token_counts_no_store_can_hold_are_unknown(runner: HeartbeatRunner, ollama, store) -> None:
    ollama.script(_ndjson(_part('{"action": "none", "reason": "ok"}'), _done(eval_count=10**26, prompt_eval_count=-4)))
    result = runner.run("default")
    run = store.runs.get(result.id)
    assert result.status == "ok" and (run.prompt_tokens, run.completion_tokens) == (None, None)


@pytest.fixture(params=["openai", "anthropic"])
def hosted(request, store: SqliteStore, data_dir: Path) -> Iterator[tuple[ProviderServer, HeartbeatRunner]]:
    server = ProviderServer(request.param, key=None)
    cls = OpenAICompatibleClient if request.param == "openai" else AnthropicClient
    client = cls("local", server.base_url, None)
    yield server, HeartbeatRunner(store, client, default_workspace=data_dir, llm_timeout_s=5, default_model="m")
    server.stop()


def _openai(*messages: dict) -> Raw:
    return Raw({"choices": [{"index": i, "message": m, "finish_reason": "stop"} for i, m in enumerate(messages)]})


def _anthropic(*blocks: dict) -> Raw:
    return Raw({"type": "message", "role": "assistant", "content": list(blocks), "stop_reason": "end_turn"})


POST = {"action": "post", "rule": 1, "title": "Parts", "content": "Sent as parts.", "reason": "r"}
NONE = {"action": "none", "reason": "quiet"}


def test_shapes_of_hosted_replies_that_crashed_a_run(hosted, store: SqliteStore) -> None:
    server, runner = hosted
    server.models = ["m"]
    if server.protocol == "openai":
        cases = [
            (_openai({"role": "assistant", "content": [{"type": "text", "text": json.dumps(POST)}]}), "ok", ""),
            (_openai({"role": "assistant", "content": 5}), "failed", "sent content that is not text"),
            (_openai({"role": "assistant", "content": json.dumps(NONE), "reasoning_content": 5}), "ok", ""),
            (_openai({"content": json.dumps(NONE)}, {"content": json.dumps(POST)}), "failed", "2 different answers"),
            (_openai({"content": '{"action": "none", "reason": "lone \\ud83d"}'}), "ok", ""),
        ]
    else:
        tool = {"type": "tool_use", "id": "t", "name": "record_decision"}
        cases = [
            (_anthropic(tool | {"input": NONE, "name": "other_tool"}), "failed", "a tool it was not given"),
            (_anthropic(tool | {"input": NONE}, tool | {"input": POST}), "failed", "sent 2 different decisions"),
            (_anthropic({"type": "text", "text": 5}), "failed", "a text block that is not text"),
            (_anthropic(tool | {"input": NONE}, tool | {"input": NONE}), "ok", ""),
        ]
    for item, status, words in cases:
        server.script(item)
        result = runner.run("default")
        assert result.status == status and words in result.reason, (item, result.reason)
        run = store.runs.get(result.id)
        assert run.status == status  # recorded, never left "started"
        if status == "failed":
            assert run.error_kind == "invalid_reply", run.error_kind


def test_a_key_given_twice_anywhere_in_a_hosted_reply_is_ambiguous(hosted, store: SqliteStore) -> None:
    """The second README-only attack (#25): Ollama's replies refused a repeated key, but the OpenAI wrapper
    (`{"decision": …, "decision": …}`) and Anthropic's tool input let the last one win — a post was written."""
    server, runner = hosted
    server.models = ["m"]
    two = '{"decision": {"action": "none", "reason": "r"}, "decision": ' + json.dumps(POST) + "}"
    if server.protocol == "openai":
        server.script(_openai({"role": "assistant", "content": two}))
        words = "'decision' appears twice"
    else:
        envelope = json.dumps(
            {
                "type": "message",
                "role": "assistant",
                "stop_reason": "tool_use",
                "content": [{"type": "tool_use", "id": "t", "name": "record_decision", "input": {"X": 1}}],
            }
        ).replace('{"X": 1}', '{"decision": {"action": "none"}, "decision": ' + json.dumps(POST) + "}")
        server.script(RawText(envelope))
        words = "sent JSON with the key 'decision' twice: ambiguous"
    result = runner.run("default")
    assert result.status == "failed" and words in result.reason, result.reason
    assert store.feed.posts() == []


def test_model_lists_in_a_shape_ollama_never_sends_are_one_line_not_a_traceback() -> None:
    from heartbeat_desktop.core.ports import LLMError

    for tags, ps in (
        ([1], [1]),
        ({"models": "x"}, {"models": "x"}),
        ({"models": [{"model": "a", "size": "big"}]}, {"models": [{"name": 5}]}),
    ):
        server = OllamaServer().start()
        server.raw_tags, server.raw_ps = tags, ps
        try:
            client = OllamaClient(server.url)
            for call in (client.list_models, client.unload_all):
                with pytest.raises(LLMError, match="that is not Ollama's") as info:
                    call()
                assert info.value.kind == "invalid_reply"
        finally:
            server.stop()
