"""One heartbeat end to end: the real runner, a real SQLite file, the real Ollama client over loopback HTTP."""

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.decision_schema import DecisionSchema
from heartbeat_desktop.core.runner import HeartbeatRunner, UnknownThread
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.store import SqliteStore
from tests.support.citing import Act
from tests.support.ollama_server import CutOff, Error, Garbage, Hang, OllamaServer, Reply

POST = json.dumps({"action": "post", "rule": 1, "title": "Daily summary", "content": "All quiet.", "reason": "daily"})


def _counts(store: SqliteStore) -> dict[str, int]:
    return store.feed.counts()


def test_post_is_written_with_its_run(runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer) -> None:
    ollama.script(Act(POST))
    run = runner.run("default")
    assert run.status == "ok", run.reason
    posts = store.feed.posts()
    assert [(p.title, p.content, p.run_id, p.thread_id) for p in posts] == [
        ("Daily summary", "All quiet.", run.id, "default")
    ]
    stored = store.runs.get(run.id)
    assert stored.status == "ok" and stored.decision["action"] == "post"
    assert stored.raw_reply == POST and "HEARTBEAT.md" in stored.prompt and stored.llm_ms is not None
    assert stored.prompt_tokens == 321
    # what reached the server: this run's schema as `format` (no posts in the context: none or post only),
    # max_tokens as num_predict, temperature
    body = ollama.chat_requests()[0].body
    cites = {"rules": stored.inputs["rules"], "refs": stored.inputs["refs"]}  # HEARTBEAT.md's items (#26)
    assert cites["rules"] and body["format"] == (
        DecisionSchema.for_run(("post", "comment", "vote"), [], 10, **cites).for_ollama()
    )
    assert [b["properties"]["action"]["const"] for b in body["format"]["anyOf"]] == ["none", "post"]
    assert body["options"] == {"num_predict": 500, "temperature": 0.2, "num_ctx": 4096}
    assert body["model"] == "llama3.2"


@pytest.mark.parametrize("reply", ["HEARTBEAT_OK", '{"action": "none", "reason": "all calm"}'])
def test_none_writes_nothing_but_the_run(runner, store, ollama, reply: str) -> None:
    ollama.script(Reply(reply))
    run = runner.run("default")
    assert run.status == "ok" and run.decision["action"] == "none"
    assert _counts(store) == {"posts": 0, "comments": 0, "votes": 0, "messages": 0}
    assert store.runs.get(run.id).status == "ok"


def test_comment_and_vote_on_an_existing_post(runner, store, ollama) -> None:
    # About the writes, not the nothing-new rule (tests/core/test_citations.py): the vote cites what the
    # comment's run already saw.
    store.threads.set_config("default", HeartbeatConfig(require_new_evidence=False))
    ollama.script(Act(POST))
    post_id = runner.run("default").action_result["post_id"]
    ollama.script(
        Act({"action": "comment", "rule": 1, "post_id": post_id, "content": "Agreed.", "reason": "r"}),
        Act({"action": "vote", "rule": 1, "post_id": post_id, "direction": "up", "reason": "r"}),
    )
    assert runner.run("default").status == "ok"
    assert runner.run("default").status == "ok"
    post = store.feed.get_post(post_id)
    assert post.comment_count == 1 and post.score == 1
    assert [c.content for c in store.feed.comments(post_id)] == ["Agreed."]


def test_a_repeated_vote_says_it_changed_nothing(runner, store, ollama) -> None:
    from heartbeat_desktop.cli import describe_run

    store.threads.set_config("default", HeartbeatConfig(require_new_evidence=False))  # the same vote, on purpose
    ollama.script(Act(POST))
    post_id = runner.run("default").action_result["post_id"]
    vote = json.dumps({"action": "vote", "rule": 1, "post_id": post_id, "direction": "up", "reason": "r"})
    down = json.dumps({"action": "vote", "rule": 1, "post_id": post_id, "direction": "down", "reason": "r"})
    ollama.script(Act(vote), Act(vote), Act(down))
    first, again, changed = (runner.run("default") for _ in range(3))
    assert first.action_result["previous"] is None and "no change" not in describe_run(first)
    assert again.action_result["previous"] == "up" and "no change" in describe_run(again)
    assert "replacing its earlier up vote" in describe_run(changed)
    assert store.feed.get_post(post_id).score == -1


@pytest.mark.parametrize("kind", ["comment", "vote"])
def test_comment_or_vote_on_a_post_not_shown_is_rejected(runner, store, ollama, kind: str) -> None:
    """Only a server that ignored the schema (its post_id enum) can send this; the runner still refuses."""
    decision = {"action": kind, "post_id": 77, "reason": "r"}
    decision.update({"content": "x"} if kind == "comment" else {"direction": "up"})
    ollama.script(Reply(json.dumps(decision)))
    run = runner.run("default")
    assert run.status == "failed" and "post 77 was not among the posts shown" in run.reason
    assert _counts(store)["comments"] == 0 and _counts(store)["votes"] == 0
    assert store.runs.get(run.id).status == "failed"


@pytest.mark.parametrize("kind", ["comment", "vote"])
def test_comment_or_vote_on_a_post_deleted_during_the_run_is_rejected(
    runner, store, ollama, data_dir: Path, kind: str
) -> None:
    ollama.script(Act(POST))
    post_id = runner.run("default").action_result["post_id"]
    decision = {"action": kind, "post_id": post_id, "reason": "r"}
    decision.update({"content": "x"} if kind == "comment" else {"direction": "up"})
    ollama.script(Reply(json.dumps(decision), delay_s=1.0))
    result: list = []

    def run_elsewhere() -> None:  # a run thread has its own connection, as under the scheduler
        own = SqliteStore(data_dir / "heartbeat.db", recover=False)
        result.append(HeartbeatRunner(own, runner.llm, default_workspace=data_dir, llm_timeout_s=5).run("default"))
        own.close()

    worker = threading.Thread(target=run_elsewhere)
    worker.start()
    deadline = time.monotonic() + 5
    while len(ollama.chat_requests()) < 2 and time.monotonic() < deadline:  # the model "thinks" about the post
        time.sleep(0.01)
    store.feed.undo("post", post_id)
    worker.join(10)
    run = result[0]
    assert run.status == "failed" and f"post {post_id} does not exist" in run.reason
    assert _counts(store)["comments"] == 0 and _counts(store)["votes"] == 0


def test_201_character_title_is_rejected(runner, store, ollama) -> None:
    ollama.script(Reply(json.dumps({"action": "post", "rule": 1, "title": "x" * 201, "content": "c", "reason": "r"})))
    run = runner.run("default")
    assert run.status == "failed" and "title" in run.reason
    assert _counts(store)["posts"] == 0


def test_model_text_is_stored_as_written_and_fed_back_unchanged(runner, store, ollama) -> None:
    """Escaping at storage made the model see `&amp;` in its next context, copy it, and get it escaped
    again each round (`&amp;amp;lt;`). Text is stored as written; renderers escape it."""
    ollama.script(
        Reply(
            json.dumps(
                {
                    "action": "post",
                    "rule": 1,
                    "title": "<img src=x onerror=alert(1)>",
                    "content": "<script>steal()</script> & more",
                    "reason": "r",
                }
            )
        )
    )
    assert runner.run("default").status == "ok"
    post = store.feed.posts()[0]
    assert post.title == "<img src=x onerror=alert(1)>"
    assert post.content == "<script>steal()</script> & more"
    ollama.script(Reply('{"action": "none", "reason": "r"}'))
    assert runner.run("default").status == "ok"
    user = ollama.chat_requests()[-1].body["messages"][1]["content"]
    shown = json.loads(user.split("<context>\n", 1)[1].split("\n</context>", 1)[0])["feed_posts"][0]
    assert shown["content"] == "<script>steal()</script> & more" and "&amp;" not in user


def test_prose_reply_fails_as_invalid_reply(runner, store, ollama) -> None:
    ollama.script(Reply("I think you should relax today."))
    run = runner.run("default")
    assert run.status == "failed" and run.reason.startswith("invalid reply")
    assert store.runs.get(run.id).raw_reply == "I think you should relax today."


def test_fenced_json_with_thinking_is_accepted(runner, store, ollama) -> None:
    ollama.script(Reply(f"Here you go:\n```json\n{POST}\n```", thinking="The user wants a summary."))
    assert runner.run("default").status == "ok"
    assert _counts(store)["posts"] == 1


def test_reply_cut_at_max_tokens_says_so(runner, ollama) -> None:
    ollama.script(Reply('{"action": "post", "rule": 1, "title": "Long', done_reason="length"))
    run = runner.run("default")
    assert run.status == "failed" and "cut off at max_tokens=500; raise max_tokens" in run.reason


def test_reply_cut_by_a_full_context_window_does_not_advise_raising_max_tokens(runner, ollama) -> None:
    """A server whose window filled up stops the reply early: more max_tokens would make it worse."""
    ollama.script(Reply('{"action": "post", "rule": 1, "title": "Long', done_reason="length", eval_count=111))
    run = runner.run("default")
    assert run.status == "failed" and "cut off after 111 tokens" in run.reason
    assert "filled the model's context window" in run.reason and "raise max_tokens" not in run.reason


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Error(500, "llama runner process has terminated"), "HTTP 500: llama runner process has terminated"),
        (Garbage(), "invalid reply"),
        (CutOff(), "closed the connection mid-reply"),
    ],
)
def test_server_errors_fail_the_run_cleanly(runner, store, ollama, behaviour, expected: str) -> None:
    ollama.script(behaviour)
    run = runner.run("default")
    assert run.status == "failed" and expected in run.reason
    assert _counts(store)["posts"] == 0
    assert store.runs.get(run.id).reason == run.reason
    ollama.script(Act(POST))  # and the next run is normal
    assert runner.run("default").status == "ok"


def test_unknown_model(runner, store, ollama) -> None:
    store.threads.set_config("default", HeartbeatConfig(model="llama9"))
    run = runner.run("default")
    assert run.status == "failed" and "ollama pull llama9" in run.reason


def test_server_down(store: SqliteStore, data_dir: Path) -> None:
    server = OllamaServer().start()
    url = server.url
    server.stop()
    run = HeartbeatRunner(store, OllamaClient(url), default_workspace=data_dir).run("default")
    assert run.status == "failed" and f"cannot reach Ollama at {url}" in run.reason


def test_timeout(store, data_dir, ollama) -> None:
    ollama.script(Hang(30))
    runner = HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=1)
    t0 = time.monotonic()
    run = runner.run("default")
    assert time.monotonic() - t0 < 10
    assert run.status == "failed" and "did not answer within 1 s" in run.reason


def test_dry_run_writes_nothing(runner, store, ollama) -> None:
    ollama.script(Act(POST))
    run = runner.run("default", dry_run=True)
    assert run.status == "ok" and run.dry_run and run.action_result["would_write"]["title"] == "Daily summary"
    assert _counts(store) == {"posts": 0, "comments": 0, "votes": 0, "messages": 0}


def test_thread_config_dry_run_is_honoured(runner, store, ollama) -> None:
    store.threads.set_config("default", HeartbeatConfig(dry_run=True))
    ollama.script(Act(POST))
    assert runner.run("default").dry_run
    assert _counts(store)["posts"] == 0


def test_empty_heartbeat_md_skips_without_any_request(runner, store, ollama, data_dir: Path) -> None:
    (data_dir / "HEARTBEAT.md").write_text("# Heartbeat\n<!-- nothing yet -->\n## Checklist\n", encoding="utf-8")
    run = runner.run("default")
    assert run.status == "skipped" and "nothing actionable" in run.reason
    assert ollama.requests == []
    assert store.runs.get(run.id).status == "skipped"


def test_a_missing_heartbeat_md_fails_the_run_with_the_reason(runner, ollama, data_dir: Path, store) -> None:
    """#27 item 5: a failure to see (a notification, status, History, exit 1), no longer a quiet skip; the file
    is not put back."""
    (data_dir / "HEARTBEAT.md").unlink()
    run = runner.run("default")
    assert run.status == "failed" and run.error_kind == "heartbeat_md" and "does not exist" in run.reason
    assert ollama.requests == [] and not (data_dir / "HEARTBEAT.md").exists()
    assert store.runs.get(run.id).status == "failed"  # recorded


def test_nothing_new_skips_scheduled_runs_only(runner, store, ollama) -> None:
    store.threads.set_config("default", HeartbeatConfig(busy_minutes=0))
    store.threads.add_note("default", "likes tea", "memory")  # something to look at (NOTHING_TO_LOOK_AT)
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    assert runner.run("default", trigger="schedule").status == "ok"
    second = runner.run("default", trigger="schedule")
    assert second.status == "skipped" and "nothing new" in second.reason
    assert len(ollama.chat_requests()) == 1
    store.threads.add_message("default", "remind me to call mum")
    assert runner.run("default", trigger="schedule").status == "ok"
    assert runner.run("default", trigger="manual").status == "ok"  # a person asked: always ask


def test_busy_thread_defers_and_records_why(runner, store, ollama) -> None:
    store.threads.add_message("default", "typing right now")
    run = runner.run("default", trigger="schedule")
    assert run.status == "skipped" and run.reason.startswith("deferred: you wrote in this thread 0 min ago")
    assert run.defer_until is not None and run.defer_until > time.time() + 200
    assert ollama.requests == [] and store.runs.get(run.id).reason == run.reason


def test_malformed_stored_config_uses_defaults_and_records_the_warning(runner, store, ollama) -> None:
    store.threads.set_config_raw("default", '{"every_seconds": 5, "max_tokens": "lots", "temperature": 0.2')
    run = runner.run("default")
    assert run.status == "ok"
    assert any("not valid JSON" in w for w in store.runs.get(run.id).warnings)
    assert ollama.chat_requests()[0].body["options"]["num_predict"] == 500
    store.threads.set_config_raw("default", '{"every_seconds": 5, "max_tokens": 300}')
    run = runner.run("default")
    assert any("every_seconds is 5, but it must be a whole number from 60 to 86400" in w for w in run.warnings)
    assert ollama.chat_requests()[1].body["options"]["num_predict"] == 300


def test_target_last_delivers_to_the_most_recently_active_thread(runner, store, ollama) -> None:
    store.threads.create("work")
    store.threads.add_message("work", "busy day")
    store.threads.set_config("default", HeartbeatConfig(target="last"))
    ollama.script(Act(POST))
    run = runner.run("default")
    assert run.action_result["delivered_to"] == "work"
    msgs = store.threads.messages("work")
    assert msgs[0].role == "assistant" and msgs[0].text.startswith("Daily summary")


def test_database_locked_for_a_second_is_retried(runner, store, ollama, data_dir: Path) -> None:
    """Another program holds the write lock for about a second while the run wants to write: it waits."""
    ollama.script(Act(POST))
    blocker = sqlite3.connect(data_dir / "heartbeat.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(1.0, lambda: blocker.execute("COMMIT"))
    timer.start()
    t0 = time.monotonic()
    run = runner.run("default")
    timer.join()
    assert time.monotonic() - t0 >= 0.9
    assert run.status == "ok", run.reason
    assert _counts(store)["posts"] == 1 and store.runs.get(run.id).status == "ok"
    assert store.integrity_check() == "ok"
    blocker.close()


def test_unknown_thread_is_a_usage_error(runner) -> None:
    with pytest.raises(UnknownThread):
        runner.run("nope")


def test_preview_records_nothing(runner, store, ollama) -> None:
    ollama.script(Act(POST))
    run = runner.run("default", dry_run=True, heartbeat_md_text="Post something.", record=False)
    assert run.status == "ok" and "Post something." in run.prompt
    assert store.runs.history() == [] and _counts(store)["posts"] == 0


def test_a_store_error_is_not_prefixed_twice() -> None:
    from heartbeat_desktop.core.runner import _db_reason

    assert _db_reason(Exception("database error: disk I/O error")) == "database error: disk I/O error"
    assert _db_reason(Exception("disk I/O error")) == "database error: disk I/O error"


def test_refusals_carry_their_kind(runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer) -> None:
    """Notifications advise by the kind of refusal, not by matching the reason's wording."""
    store.threads.set_config("default", HeartbeatConfig(allowed_actions=("vote",)))
    ollama.script(Act(POST))
    assert runner.run("default").error_kind == "not_allowed"
    store.threads.set_config("default", HeartbeatConfig())
    ollama.script(Act(POST), Act(POST))
    assert runner.run("default").status == "ok"
    store.threads.add_message("default", "news")
    assert runner.run("default").error_kind == "duplicate"
    ollama.script(Reply("not json at all"))
    store.threads.add_message("default", "more news")
    assert runner.run("default").error_kind == "invalid_reply"


def test_reason_first_run_records_both_calls_and_acts_on_the_second(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    store.threads.set_config("default", HeartbeatConfig(decision_mode="reason-first"))
    ollama.script(Reply("The checklist asks for a summary; post it.", eval_count=11), Reply(POST, eval_count=20))
    run = runner.run("default")
    assert run.status == "ok", run.reason
    assert [p.title for p in store.feed.posts()] == ["Daily summary"]
    stored = store.runs.get(run.id)
    assert stored.decision_mode == "reason-first"
    assert stored.reasoning == "The checklist asks for a summary; post it."
    assert stored.reasoning_ms is not None and stored.llm_ms >= stored.reasoning_ms > 0
    assert stored.completion_tokens == 31 and stored.prompt_tokens == 642  # both calls counted
    assert stored.raw_reply == POST  # the decision call's reply; the prompt is the shared question
    assert stored.inputs["actions"] == ["none", "post"] and stored.inputs["max_tokens"] == 500
    think, decide = (r.body for r in ollama.chat_requests())
    assert "format" not in think and think["options"]["num_predict"] == 160
    assert "post it." in decide["messages"][1]["content"]


def test_direct_run_records_its_mode_and_no_reasoning(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    ollama.script(Act(POST))
    stored = store.runs.get(runner.run("default").id)
    assert stored.decision_mode == "direct" and stored.reasoning is None and stored.reasoning_ms is None
    assert len(ollama.chat_requests()) == 1


def test_reason_first_with_a_reasoning_call_that_hangs_fails_within_the_one_timeout(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer
) -> None:
    store.threads.set_config("default", HeartbeatConfig(decision_mode="reason-first"))
    runner = HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=1)
    ollama.script(Hang(10))
    started = time.monotonic()
    run = runner.run("default")
    assert run.status == "failed" and "1 s" in run.reason and time.monotonic() - started < 3
    assert _counts(store)["posts"] == 0 and len(ollama.chat_requests()) == 1


def test_a_decision_call_out_of_time_names_the_runs_timeout_not_what_was_left(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer
) -> None:
    """The README-only attack (#25): with a 2 s timeout and a slow reasoning call, the failure said "did not
    answer within 0.6 s" — the time the first call left, which nobody set."""
    store.threads.set_config("default", HeartbeatConfig(decision_mode="reason-first"))
    runner = HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=2)
    ollama.script(Reply("Some thoughts.", delay_s=1.2), Hang(10))
    run = runner.run("default")
    assert run.status == "failed" and run.error_kind == "timeout"
    assert "the two calls of reason-first mode did not finish within the 2 s timeout" in run.reason, run.reason


def test_a_reply_python_cannot_read_is_an_invalid_reply_not_an_internal_error(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """#25 item 6: a 5000-digit post_id was "internal error: ValueError: Exceeds the limit (4300 digits)" and
    JSON nested thousands deep "internal error: RecursionError". They are the model's fault: invalid replies,
    with the error kind that lets the repeated-answer pause trip and the notification advise rightly."""
    huge = '{"action": "vote", "rule": 1, "post_id": ' + "7" * 5000 + ', "direction": "up", "reason": "r"}'
    deep = '{"action": "none", "reason": ' + "[" * 3000 + "]" * 3000 + "}"  # past the decoder's recursion limit
    ollama.script(Reply(huge), Reply(deep))
    first, second = runner.run("default"), runner.run("default")
    assert (first.status, first.error_kind) == ("failed", "invalid_reply")
    assert "a number with thousands of digits" in first.reason and "internal" not in first.reason
    assert (second.status, second.error_kind) == ("failed", "invalid_reply")
    assert "nested too deeply" in second.reason
    assert store.runs.get(first.id).error_kind == "invalid_reply"


def test_the_same_post_from_another_thread_is_a_repeat_too(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    """#27 item 8: one summary was posted by three threads; the feed is one, so the duplicate rule is too."""
    store.threads.create("work", "Work")
    store.threads.add_message("work", "Daily summary please.")
    ollama.script(Act(POST), Act(POST))
    first = runner.run("default")
    again = runner.run("work")
    assert first.status == "ok"
    assert again.status == "failed" and again.error_kind == "duplicate", again.reason
    [post] = store.feed.posts()
    assert again.reason == f"refused: the same post as #{post.id}, made by thread default in the last 24 h"


def test_a_heartbeat_with_nothing_to_look_at_does_not_ask_the_model(runner, store, ollama) -> None:
    """Rough edges #1: the first heartbeat after Set up, on an empty thread (no messages, no notes, an empty
    feed), posted "default_json" citing only a rule and showed a notification. A scheduled heartbeat with
    nothing in its context is recorded as skipped, saying why, and the model is not asked; a person's own run
    (Run now, a dry run: Set up's trial) still is, as it is past "nothing new"."""
    ollama.script(Act(POST), Act(POST), Act(POST), Act(POST))
    for trigger in ("schedule", "catch-up"):
        run = runner.run("default", trigger=trigger)
        assert (run.status, run.reason) == ("skipped", "nothing to look at: no messages, notes or feed posts")
        assert store.runs.get(run.id).status == "skipped" and run.decision is None
    assert ollama.chat_requests() == [] and _counts(store)["posts"] == 0
    assert runner.run("default", dry_run=True).status == "ok" and len(ollama.chat_requests()) == 1
    # each kind of item alone is something to look at: a message, an open note (dry: the feed stays empty) …
    store.threads.create("spoken")
    store.threads.add_message("spoken", "Remind me to call Ana", role="assistant")  # not "busy": the user's are
    store.threads.create("noted")
    store.threads.add_note("noted", "likes tea", "memory")
    for thread in ("spoken", "noted"):
        assert runner.run(thread, trigger="schedule", dry_run=True).status == "ok", thread
    assert len(ollama.chat_requests()) == 3 and _counts(store)["posts"] == 0
    # … and a post in the feed, whichever thread wrote it
    assert runner.run("noted", trigger="schedule").status == "ok" and _counts(store)["posts"] == 1
    store.threads.create("fresh")
    assert runner.run("fresh", trigger="schedule").status != "skipped" and len(ollama.chat_requests()) == 5
