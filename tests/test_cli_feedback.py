"""`feedback add|list` and feedback in `history --json` (#26 item 1), through the real command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer, Reply
from tests.test_cli import cli


def test_not_useful_from_the_command_line_and_what_history_shows(
    data_dir: Path, store: SqliteStore, runner: HeartbeatRunner, ollama: OllamaServer
) -> None:
    post = {"action": "post", "rule": 1, "title": "Reminder", "content": "Call Ana.", "reason": "r"}
    ollama.script(Reply(json.dumps(post)))
    acted = runner.run("default")
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    quiet = runner.run("default")

    added = cli(data_dir, "feedback", "add", acted.id[:8], "--reason", "Already knew")
    assert added.returncode == 0 and f"run {acted.id[:8]} marked not useful (already knew)" in added.stdout
    for args, says in (
        (("feedback", "add", quiet.id), "took no action"),
        (("feedback", "add", acted.id, "--reason", "bored"), "reason must be one of: not now, already knew"),
        (("feedback", "add", "abc"), "at least its first 6 characters"),
        (("feedback", "add", "zzzzzzzz"), "no run 'zzzzzzzz'"),
    ):
        refused = cli(data_dir, *args)
        assert refused.returncode == 2 and says in refused.stderr, (args, refused.stderr)

    repeated = cli(data_dir, "feedback", "add", acted.id[:8], "--reason", "already knew")
    assert repeated.returncode == 0 and "already recorded, nothing changed" in repeated.stdout  # #28
    listed = json.loads(cli(data_dir, "feedback", "list", "--json").stdout)
    assert datetime.fromisoformat(listed["events"][0]["created_at"]).utcoffset() is not None  # #28: not an epoch
    assert [(e["kind"], e["reason"], e["source"]) for e in listed["events"]] == [("not_useful", "already_knew", "cli")]
    assert listed["act_on"] == {"kept": 0, "rejected": 1, "pending": 0, "rate": 0.0}
    text = cli(data_dir, "feedback", "list").stdout
    assert "not useful (already knew)" in text and "kept 0 of 1 judged action (0%)" in text

    history = {r["id"]: r for r in json.loads(cli(data_dir, "history", "--json").stdout)}
    assert history[acted.id]["feedback"]["outcome"] == "rejected"
    assert history[acted.id]["feedback"]["events"][0]["reason"] == "already_knew"
    assert history[quiet.id]["feedback"] is None  # nothing to judge

    status = cli(data_dir, "status")
    assert "Kept 0 of 1 this week (0%), 0 of 1 this month (0%) (your word)" in status.stdout, status.stdout
    assert json.loads(cli(data_dir, "status", "--json").stdout)["act_on"]["week"]["rejected"] == 1


def test_a_contradiction_note_can_be_resolved_and_reopened(data_dir: Path, store: SqliteStore) -> None:
    """#27 item 3: nothing called set_note_resolved, so the agent saw an "open contradiction" forever."""
    note_id = store.threads.add_note("default", "Meeting: Tuesday vs Wednesday", "contradiction")
    resolved = cli(data_dir, "note", "--resolve", str(note_id))
    assert resolved.returncode == 0 and f"contradiction note #{note_id} of default resolved" in resolved.stdout
    assert store.threads.notes("default") == []  # no longer open: not in the agent's context
    assert cli(data_dir, "note", "--reopen", str(note_id)).returncode == 0
    assert [n.id for n in store.threads.notes("default")] == [note_id]
    for args, says in (
        (("note", "--resolve", "999"), "has no note #999"),
        (("note", "--resolve", str(note_id), "--reopen", str(note_id)), "one of them"),
        (("note",), "give the note's text"),
    ):
        refused = cli(data_dir, *args)
        assert refused.returncode == 2 and says in refused.stderr, (args, refused.stderr)


def test_feedback_list_shows_the_rule_the_user_wrote(
    data_dir: Path, store: SqliteStore, runner: HeartbeatRunner, ollama: OllamaServer
) -> None:
    """The rule "Don't suggest this again" added is the user's reason: `feedback list` shows it beside the chip
    (inert in a terminal, as every text a person typed into the app), and its JSON carries it as `rule`."""
    post = {"action": "post", "rule": 1, "title": "Weather", "content": "Rain.", "reason": "r"}
    ollama.script(Reply(json.dumps(post)))
    acted = runner.run("default")
    store.feedback.record(acted.id, "not_useful", "feed", "not_now")
    store.feedback.with_rule(acted.id, "No weather posts \x1b[31munless asked.", "feed")
    text = cli(data_dir, "feedback", "list").stdout
    assert "not useful (not now) — rule: No weather posts" in text and "\x1b" not in text
    (event,) = json.loads(cli(data_dir, "feedback", "list", "--json").stdout)["events"]
    assert event["rule"] == "No weather posts \x1b[31munless asked." and event["reason"] == "not_now"
