"""Replies that hide the JSON (#24 item 7): thinking models that leave the reply empty and put the decision in
their reasoning field, or inside a <think> block. Over the wire, from servers that answer exactly so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartbeat_desktop import wiring
from heartbeat_desktop.core.actions import InvalidDecision, decision_source
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD
from tests.support.ollama_server import OllamaServer, Reply
from tests.support.provider_servers import Answer, ProviderServer

POST = json.dumps({"action": "post", "rule": 1, "title": "From the reasoning", "content": "c", "reason": "r"})


def test_where_the_decision_is_read_from() -> None:
    assert decision_source(POST, "some thoughts") == (POST, None)
    text, notice = decision_source("", POST)
    assert text == POST and notice is not None and "reasoning field" in notice
    text, notice = decision_source(f"<think>{POST}</think>", None)
    assert json.loads(text.strip()) == json.loads(POST) and "<think> block" in str(notice)
    with pytest.raises(InvalidDecision, match="wrote only in its reasoning field"):
        decision_source("", "I should post something about the deadline.")
    assert decision_source("", None) == ("", None)  # nothing anywhere: the parser says "returned nothing"


def test_an_ollama_thinking_model_with_the_json_in_its_thinking(store: SqliteStore, data_dir: Path) -> None:
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = OllamaServer().start()
    try:
        store.settings.set("ollama_host", server.url)
        server.script(Reply("", thinking=POST))
        run = wiring.make_runner(store, data_dir).run("default", trigger="manual")
    finally:
        server.stop()
    assert run.status == "ok", run.reason
    assert run.action_result and "From the reasoning" in json.dumps(store.feed.posts()[0].title)
    assert any("reasoning field" in w for w in run.warnings)


def test_an_openai_compatible_reasoning_model_empty_reply(store: SqliteStore, data_dir: Path) -> None:
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = ProviderServer("openai", key=None, models=("qwq",))
    try:
        store.providers.save("lms", "openai", server.base_url)
        thread = store.threads.require("default")
        store.threads.set_config("default", thread.config.with_updates(model="lms:qwq"))
        server.script(Answer("", reasoning=POST))
        ok = wiring.make_runner(store, data_dir).run("default", trigger="manual")
        server.script(Answer("", reasoning="Let me think about whether to post. Probably not."))
        prose = wiring.make_runner(store, data_dir).run("default", trigger="manual")
    finally:
        server.stop()
    assert ok.status == "ok" and any("reasoning field" in w for w in ok.warnings), ok.reason
    assert prose.status == "failed" and "wrote only in its reasoning field" in prose.reason
