"""#27 item 3 from a shell: a thread's notes with their numbers, and a comment on the agent's question that
names the open contradiction note it was raised from (and resolves it with --resolve). A real subprocess, a
real database, the loopback Ollama-protocol server."""

from __future__ import annotations

import json
from pathlib import Path

from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD
from tests.support.citing import Act
from tests.support.ollama_server import OllamaServer
from tests.test_cli import cli

QUESTION = json.dumps(
    {"action": "post", "title": "Tuesday or Wednesday?", "content": "Ana and Ben disagree.", "reason": "r"}
)


def test_a_comment_on_the_agents_question_offers_and_resolves_its_note(data_dir: Path, ollama: OllamaServer) -> None:
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    added = cli(data_dir, "note", "--kind", "contradiction", "Ana: Tuesday; Ben: Wednesday")
    assert added.returncode == 0, added.stderr
    [note] = json.loads(cli(data_dir, "notes", "--json").stdout)
    assert note["kind"] == "contradiction" and note["resolved"] is False
    listed = cli(data_dir, "notes").stdout
    assert f"#{note['id']}" in listed and "open" in listed
    ollama.script(Act(QUESTION))
    assert json.loads(cli(data_dir, "run-now", "--json", host=ollama.url).stdout)["status"] == "ok"
    store = SqliteStore(data_dir / "heartbeat.db")
    try:
        [post] = store.feed.posts()
    finally:
        store.close()

    answered = cli(data_dir, "comment", str(post.id), "It", "is", "Tuesday.")
    assert answered.returncode == 0, answered.stderr
    assert f"was raised from open contradiction note #{note['id']} of default" in answered.stdout
    assert f"heartbeat-desktop note --thread default --resolve {note['id']}" in answered.stdout
    assert json.loads(cli(data_dir, "notes", "--json").stdout)[0]["resolved"] is False  # not without the user's word

    resolved = json.loads(cli(data_dir, "comment", str(post.id), "Confirmed.", "--resolve", "--json").stdout)
    assert [n["id"] for n in resolved["resolved_notes"]] == [note["id"]] and resolved["open_notes"] == []
    assert json.loads(cli(data_dir, "notes", "--json").stdout) == []
    assert "resolved" in cli(data_dir, "notes", "--all").stdout
    assert cli(data_dir, "note", "--reopen", str(note["id"])).returncode == 0
    assert json.loads(cli(data_dir, "notes", "--json").stdout)[0]["resolved"] is False

    store = SqliteStore(data_dir / "heartbeat.db")
    try:
        assert [c.content for c in store.feed.comments(post.id)] == ["It is Tuesday.", "Confirmed."]
    finally:
        store.close()
    missing = cli(data_dir, "comment", "999", "hello")
    assert missing.returncode == 2 and "post 999 does not exist" in missing.stderr
