"""Servers that refuse an output format: the client falls back within the run, says so, and remembers.

Loopback servers speaking each protocol, the app's own wiring (router, clients, store-backed memory).
The real llama-cpp-python server's refusal of `json_schema` is exercised in tests/real_model/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop import wiring
from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.decision_schema import DecisionSchema, max_length_sent
from heartbeat_desktop.llm.server_memory import RECHECK_AFTER_S, InMemoryServerMemory
from heartbeat_desktop.secrets import KeyCache
from heartbeat_desktop.store import SqliteStore
from tests.support.keys import sends_key
from tests.support.ollama_server import Error, OllamaServer, Reply, StreamError
from tests.support.provider_servers import Answer, ProviderServer, Status, response_format_sent

POST = {"action": "post", "rule": 1, "title": "From a local server", "content": "Hello.", "reason": "r"}
LLAMA_CPP_REFUSAL = Status(
    500,
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
)


@pytest.fixture
def local() -> Iterator[ProviderServer]:
    """A keyless OpenAI-compatible server on loopback, as a user's llama.cpp or LM Studio would be."""
    server = ProviderServer("openai", key=None, models=("smollm2",))
    yield server
    server.stop()


@pytest.fixture
def keyring_calls() -> list[str]:
    return []


def runner_for(store: SqliteStore, data_dir: Path, keyring_calls: list[str]):
    """The app's wiring; a keyring that records being asked (none of these providers has a key)."""

    def opener():
        keyring_calls.append("opened")
        raise AssertionError("the keyring must not be asked for a provider without a key")

    return wiring.make_runner(store, data_dir, keys=KeyCache(opener))


def use_local(store: SqliteStore, server: ProviderServer) -> None:
    store.providers.save("local", "openai", server.base_url)
    store.threads.set_config("default", HeartbeatConfig(model="local:smollm2"))


def formats(server: ProviderServer) -> list[str | None]:
    return [response_format_sent(r["body"]) for r in server.requests if r["body"]]


def test_refused_json_schema_falls_back_to_json_object_with_the_schema_and_is_remembered(
    store: SqliteStore, data_dir: Path, local: ProviderServer, keyring_calls: list[str]
) -> None:
    local.refuse_formats["json_schema"] = LLAMA_CPP_REFUSAL
    local.script(Answer(json.dumps(POST)), Answer(json.dumps({"action": "none", "reason": "quiet"})))
    use_local(store, local)

    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "ok", run.reason
    assert formats(local) == ["json_schema_bounded", "json_schema", "json_object"]
    sent = local.requests[-1]["body"]["response_format"]
    inputs = store.runs.get(run.id).inputs  # the run's citable items (#26)
    cites = {"rules": inputs["rules"], "refs": inputs["refs"]}
    assert sent["schema"] == DecisionSchema.for_run(("post", "comment", "vote"), [], 10, **cites).for_ollama()
    notice = "local refused the output format json_schema_bounded and json_schema (HTTP 500: 1 validation error"
    assert any(notice in w for w in run.warnings)
    assert any(notice in w for w in store.runs.get(run.id).warnings)  # and History shows it
    assert store.providers.recall_format("local", local.base_url, RECHECK_AFTER_S) == "json_object"

    # The next run (a new runner, as the scheduler makes one per run) starts with what works: one request.
    again = runner_for(store, data_dir, keyring_calls).run("default")
    assert again.status == "ok" and formats(local)[3:] == ["json_object"]
    assert not any("refused" in w for w in again.warnings)
    # A keyless local server: no Authorization header, and the keyring was never opened.
    assert not any(sends_key(r["headers"]) for r in local.requests)
    assert keyring_calls == []


def test_the_lengths_are_sent_first_and_a_server_that_refuses_them_gets_the_strict_shape(
    store: SqliteStore, data_dir: Path, local: ProviderServer, keyring_calls: list[str]
) -> None:
    """llama.cpp's server, LM Studio and vLLM enforce `maxLength`, so it is asked for first (a small model on
    llama-server otherwise rambled in a reason until max_tokens cut it off); a server that refuses length
    keywords in strict mode, as OpenAI's does, gets the strict subset next, and keeps getting it."""
    local.refuse_formats["json_schema_bounded"] = Status(
        400, "Invalid schema for response_format: 'maxLength' is not permitted."
    )
    local.script(
        Answer(json.dumps({"decision": POST})), Answer(json.dumps({"decision": {"action": "none", "reason": "q"}}))
    )
    use_local(store, local)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "ok", run.reason
    assert formats(local) == ["json_schema_bounded", "json_schema"]
    bounded, strict = (r["body"]["response_format"]["json_schema"]["schema"] for r in local.requests if r["body"])
    inputs = store.runs.get(run.id).inputs  # the run's citable items (#26)
    schema = DecisionSchema.for_run(("post", "comment", "vote"), [], 10, rules=inputs["rules"], refs=inputs["refs"])
    assert bounded == schema.for_openai_bounded() and strict == schema.for_openai_strict()
    assert max_length_sent(bounded) > 0 and max_length_sent(strict) == 0
    assert any("refused the output format json_schema_bounded (HTTP 400" in w for w in run.warnings)
    assert runner_for(store, data_dir, keyring_calls).run("default").status == "ok"
    assert formats(local)[2:] == ["json_schema"]


def test_openais_own_api_is_asked_in_its_strict_subset_first() -> None:
    from heartbeat_desktop.llm.openai_client import ladder_for

    assert ladder_for("https://api.openai.com/v1")[0] == "json_schema"
    assert ladder_for("http://127.0.0.1:8080/v1")[0] == "json_schema_bounded"
    assert ladder_for("https://api.openai.com.example.net/v1")[0] == "json_schema_bounded"


def test_a_server_refusing_both_structured_formats_is_asked_with_the_prompt_alone(
    store: SqliteStore, data_dir: Path, local: ProviderServer, keyring_calls: list[str]
) -> None:
    local.refuse_formats["json_schema"] = Status(400, "response_format is not supported by this model")
    local.refuse_formats["json_object"] = Status(400, "response_format is not supported by this model")
    local.script(Answer(json.dumps(POST)))
    use_local(store, local)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "ok", run.reason
    assert formats(local) == ["json_schema_bounded", "json_schema", "json_object", None]
    assert any("refused the output format json_schema_bounded, json_schema and json_object" in w for w in run.warnings)
    assert store.providers.recall_format("local", local.base_url, RECHECK_AFTER_S) == "prompt"


def test_a_server_error_that_is_not_about_the_format_is_not_retried(
    store: SqliteStore, data_dir: Path, local: ProviderServer, keyring_calls: list[str]
) -> None:
    local.script(Status(500, "model failed to load: out of memory"))
    use_local(store, local)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "failed" and "HTTP 500: model failed to load: out of memory" in run.reason
    assert formats(local) == ["json_schema_bounded"]
    assert store.providers.recall_format("local", local.base_url, RECHECK_AFTER_S) is None


def test_when_every_format_is_refused_the_reason_says_what_was_tried(
    store: SqliteStore, data_dir: Path, local: ProviderServer, keyring_calls: list[str]
) -> None:
    for fmt in ("json_schema", "json_object"):
        local.refuse_formats[fmt] = Status(422, f"{fmt} is not supported")
    local.script(Status(422, "messages: unsupported role"))
    use_local(store, local)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "failed"
    assert "HTTP 422: messages: unsupported role" in run.reason
    assert "after it refused the output format json_schema_bounded, json_schema and json_object" in run.reason
    assert store.providers.recall_format("local", local.base_url, RECHECK_AFTER_S) is None


def test_memory_is_per_url_and_ages_out(store: SqliteStore) -> None:
    store.providers.learn_format("local", "http://127.0.0.1:8000/v1", "json_object")
    assert store.providers.recall_format("local", "http://127.0.0.1:8000/v1", RECHECK_AFTER_S) == "json_object"
    assert store.providers.recall_format("local", "http://gpu-box:8000/v1", RECHECK_AFTER_S) is None
    assert store.providers.recall_format("local", "http://127.0.0.1:8000/v1", max_age_s=-1) is None
    now = [1000.0]
    memory = InMemoryServerMemory(clock=lambda: now[0])
    memory.learn_format("x", "u", "json")
    assert memory.recall_format("x", "u") == "json"
    now[0] += RECHECK_AFTER_S + 1  # a week later the better format is tried again
    assert memory.recall_format("x", "u") is None


def test_learning_a_format_does_not_make_a_keyless_provider_look_keyed(store: SqliteStore) -> None:
    store.providers.learn_format("ollama", "http://127.0.0.1:11434", "json")
    assert store.providers.key_state("ollama")[0] is False


def test_an_ollama_that_refuses_schemas_gets_format_json(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer, keyring_calls: list[str]
) -> None:
    """Ollama before 0.5 answers a schema object with 400 "invalid format"."""
    ollama.refuse_schema_format = Error(400, 'invalid format: expected "json" or a JSON schema')
    ollama.script(Reply(json.dumps(POST)))
    store.settings.set("ollama_host", ollama.url)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "ok", run.reason
    assert [r.body["format"] if isinstance(r.body["format"], str) else "schema" for r in ollama.chat_requests()] == [
        "schema",
        "json",
    ]
    assert any("ollama refused the output format schema (HTTP 400: invalid format" in w for w in run.warnings)
    assert not sends_key(ollama.chat_requests()[0].headers) and keyring_calls == []


def test_an_error_inside_the_stream_about_the_grammar_falls_back(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer, keyring_calls: list[str]
) -> None:
    ollama.script(
        StreamError("failed to create sampling context: llama.cpp refused the grammar"), Reply(json.dumps(POST))
    )
    store.settings.set("ollama_host", ollama.url)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "ok", run.reason
    assert any("refused the output format schema (failed to create sampling context" in w for w in run.warnings)


def test_an_error_inside_the_stream_about_something_else_is_a_failure(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer, keyring_calls: list[str]
) -> None:
    ollama.script(StreamError("model runner has unexpectedly stopped"))
    store.settings.set("ollama_host", ollama.url)
    run = runner_for(store, data_dir, keyring_calls).run("default")
    assert run.status == "failed" and "reported an error: model runner has unexpectedly stopped" in run.reason
    assert len(ollama.chat_requests()) == 1
