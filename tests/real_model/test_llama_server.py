"""llama.cpp's own C++ server, `llama-server`, unchanged, as a keyless OpenAI-compatible provider (#24 item 5).

What users of llama.cpp run (and what LM Studio's engine is built from): it takes `response_format:
json_schema` and turns the schema into a grammar with llama.cpp's converter. A server that cannot compile
a schema could answer 200 with output the grammar never constrained ("fail open"); the version pinned
here refuses such a schema with HTTP 400 instead, which the app's output-format ladder steps down from.
These tests prove every schema the app can send is compiled *and enforced* by it, that heartbeats run end
to end through the CLI on it, and that an unconstrained reply is still validated and refused.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from heartbeat_desktop.core.decision_schema import DecisionSchema
from tests.real_model.test_real_engines import (
    ALLOWED_SETS,
    POST_IDS,
    ROOM_FOR_THE_LONGEST,
    cli,
    prepare,
    warnings_of_valid_heartbeats,
)
from tests.support.llama_server_bin import BUILD_WAIT_S
from tests.support.provider_servers import Answer, ProviderServer
from tests.support.real_servers import RealServer

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(BUILD_WAIT_S + 300)]

PROSE_PROMPT = "Say hello to Ana in one short sentence."
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def ask(server: RealServer, response_format: dict | None, max_tokens: int = 6) -> httpx.Response:
    body: dict = {
        "model": server.model,
        "messages": [{"role": "user", "content": PROSE_PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if response_format is not None:
        body["response_format"] = response_format
    return httpx.post(f"{server.url}/chat/completions", json=body, timeout=240)


def constrained(response: httpx.Response) -> bool:
    """The grammar was applied: a prompt that asks for prose got the start of a JSON object."""
    return response.status_code == 200 and response.json()["choices"][0]["message"]["content"].lstrip().startswith("{")


def sent_to_an_openai_compatible_server() -> dict[str, dict]:
    """Each distinct `response_format` the OpenAI-compatible client sends (llm/openai_client.py), on every rung
    of its ladder: `json_schema` bounded and strict, `json_object` with the Ollama shape — every allow-list,
    0 to many posts, cap reached or not."""
    found: dict[str, dict] = {}
    for allowed, ids, posts_left in itertools.product(ALLOWED_SETS, POST_IDS, (0, 3)):
        schema = DecisionSchema.for_run(allowed, ids, posts_left)
        for shape in (schema.for_openai_bounded(), schema.for_openai_strict()):
            fmt = {"type": "json_schema", "json_schema": {"name": "decision", "strict": True, "schema": shape}}
            found[json.dumps(fmt, sort_keys=True)] = fmt
        fmt = {"type": "json_object", "schema": schema.for_ollama()}
        found[json.dumps(fmt, sort_keys=True)] = fmt
    return found


def test_every_schema_the_app_can_send_is_enforced_by_llama_server(real_llama_server: RealServer) -> None:
    """HTTP 200 for each, and the output is JSON although the prompt asks for prose — so the server compiled
    the grammar and did not fail open. The same prompt with no format gets prose, so the check can fail."""
    assert not constrained(ask(real_llama_server, None))
    formats = sent_to_an_openai_compatible_server()
    assert len(formats) >= 30  # 8 allow-lists x posts shown x cap, in three forms, minus those that coincide
    open_or_refused = []
    for response_format in formats.values():
        response = ask(real_llama_server, response_format)
        if not constrained(response):
            open_or_refused.append((response_format["type"], response.status_code, response.text[:200]))
    assert open_or_refused == []
    assert real_llama_server.alive()


def test_a_schema_llama_server_cannot_compile_is_refused_not_run_unconstrained(real_llama_server: RealServer) -> None:
    """The failure the app relies on being loud: a schema the converter rejects is an HTTP 400 naming it
    (the ladder steps down from a 400), never a 200 with unconstrained text."""
    broken = {"type": "object", "properties": {"a": {"$ref": "#/defs/missing"}}, "required": ["a"]}
    response = ask(real_llama_server, {"type": "json_schema", "json_schema": {"name": "d", "schema": broken}})
    assert response.status_code == 400 and "JSON schema conversion failed" in response.json()["error"]["message"]
    assert real_llama_server.alive()


def test_heartbeats_on_llama_server_through_the_cli(real_llama_server: RealServer, tmp_path: Path) -> None:
    """Added as a keyless `--kind openai` provider with no keyring: every run a valid decision whose writes
    match it; the server takes `json_schema` with the lengths bounded (the ladder's first step), so no run
    says a format was refused and `provider test` names no fallback."""
    data = tmp_path / "data"
    prepare(data)
    url = real_llama_server.url
    assert cli(data, "provider", "add", "lcpp", "--kind", "openai", "--url", url, **NO_KEYRING).returncode == 0
    assert cli(data, "config", "set", "model", f"lcpp:{real_llama_server.model}", **NO_KEYRING).returncode == 0
    assert cli(data, "config", "set", "max_tokens", str(ROOM_FOR_THE_LONGEST), **NO_KEYRING).returncode == 0
    warnings = [w for run in warnings_of_valid_heartbeats(data, 4, **NO_KEYRING) for w in run]
    assert not any("refused the output format" in w for w in warnings), warnings
    tested = cli(data, "provider", "test", "lcpp", **NO_KEYRING)
    assert tested.returncode == 0 and "smollm2" in tested.stdout, tested.stdout + tested.stderr
    assert "refused the better formats" not in tested.stdout
    assert real_llama_server.alive()


def test_an_unconstrained_reply_is_still_validated_and_refused(tmp_path: Path) -> None:
    """A server that fails open — HTTP 200, the format ignored — answers what the grammar would have ruled
    out: a vote in a thread that allows only comments, then a comment on a post the run never showed. The
    app refuses both, says which rule, and writes nothing. (A fault, so a scripted server: the pinned
    llama-server does not fail open.)"""
    data = tmp_path / "data"
    prepare(data)
    server = ProviderServer("openai", key=None, models=("m",))
    server.script(
        Answer(text=json.dumps({"action": "vote", "post_id": 1, "direction": "up", "reason": "x"})),
        Answer(text=json.dumps({"action": "comment", "post_id": 999, "content": "Noted.", "reason": "x"})),
    )
    try:
        added = cli(data, "provider", "add", "open", "--kind", "openai", "--url", server.base_url, **NO_KEYRING)
        assert added.returncode == 0
        assert cli(data, "config", "set", "model", "open:m", **NO_KEYRING).returncode == 0
        assert cli(data, "config", "set", "allowed_actions", "comment", **NO_KEYRING).returncode == 0
        reasons = [json.loads(cli(data, "run-now", "--json", **NO_KEYRING).stdout)["reason"] for _ in range(2)]
    finally:
        server.stop()
    assert "vote is not allowed for this thread" in reasons[0], reasons
    assert "post 999 was not among the posts shown" in reasons[1], reasons
    with sqlite3.connect(data / "heartbeat.db") as db:
        counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("posts", "comments", "votes")]  # noqa: S608
    assert counts == [2, 0, 0]
