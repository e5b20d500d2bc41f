"""Feedback on the agent's actions (#26 item 1): recorded where the user acts (Undo, a vote on the agent's own
post, "Not useful"), in the same transaction as the change, and what it comes to (kept, rejected, pending)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.feedback import KEPT_AFTER_S
from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.core.present import user_feedback
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer, Reply


def _new(runner: HeartbeatRunner, text: str) -> list[str]:
    """A new message in the thread, cited by the answer that follows (an action must cite something new: #26)."""
    return [f"m{runner.store.threads.add_message('default', text)}"]


def _post(runner: HeartbeatRunner, ollama: OllamaServer, title: str) -> tuple[str, int]:
    post = {
        "action": "post",
        "rule": 1,
        "because": _new(runner, title),
        "title": title,
        "content": f"{title}.",
        "reason": "r",
    }
    ollama.script(Reply(json.dumps(post)))
    run = runner.run("default")
    assert run.status == "ok", run.reason
    return run.id, int(run.action_result["post_id"])


def test_undo_and_votes_on_the_agents_posts_are_recorded_with_them(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    undone_run, undone_post = _post(runner, ollama, "Taken back")
    down_run, down_post = _post(runner, ollama, "Voted down")
    up_run, up_post = _post(runner, ollama, "Voted up")
    quiet_run, _ = _post(runner, ollama, "Left alone")
    store.feed.undo("post", undone_post, run_id=undone_run, source="notification")
    store.feed.vote(down_post, "user", "down")
    store.feed.vote(up_post, "user", "up")
    store.feed.vote(up_post, "user", "up")  # the same vote again is no new word
    assert [(e.kind, e.source) for e in store.feedback.for_run(undone_run)] == [("undo", "notification")]
    assert [e.kind for e in store.feedback.for_run(down_run)] == ["down_vote"]
    assert [e.kind for e in store.feedback.for_run(up_run)] == ["up_vote"]
    assert store.feedback.for_run(quiet_run) == []
    now = store.clock()
    verdicts = {
        run_id: user_feedback(store.runs.get(run_id), store.feedback.for_run(run_id), now)["outcome"]
        for run_id in (undone_run, down_run, up_run, quiet_run)
    }
    assert verdicts == {undone_run: "rejected", down_run: "rejected", up_run: "kept", quiet_run: "pending"}
    rate = store.feedback.act_on("default")
    assert (rate.kept, rate.rejected, rate.pending, rate.rate) == (1, 2, 1, 1 / 3)


def test_a_day_without_a_word_is_kept(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    _post(runner, ollama, "Quietly kept")
    later = SqliteStore(data_dir / "heartbeat.db", clock=lambda: store.clock() + KEPT_AFTER_S + 60)
    try:
        rate = later.feedback.act_on()
    finally:
        later.close()
    assert (rate.kept, rate.rejected, rate.pending) == (1, 0, 0)


def test_not_useful_needs_a_run_that_acted_and_a_known_reason(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    acted, _ = _post(runner, ollama, "Something")
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    quiet = runner.run("default")
    event = store.feedback.record(acted, "not_useful", "history", "already_knew")
    assert (event.kind, event.reason, event.thread_id) == ("not_useful", "already_knew", "default")
    with pytest.raises(StoreError, match="took no action"):
        store.feedback.record(quiet.id, "not_useful", "history")
    with pytest.raises(StoreError, match="no run"):
        store.feedback.record("nope", "not_useful", "history")
    with pytest.raises(StoreError, match="reason must be one of"):
        store.feedback.record(acted, "not_useful", "history", "bored")  # type: ignore[arg-type]
    # the schema holds the line for any other writer too
    with pytest.raises(Exception, match="CHECK constraint failed"):
        store.db.transaction(
            lambda c: c.execute(
                "INSERT INTO feedback (run_id, kind, source, created_at) VALUES (?, 'shrug', 'cli', 0)", (acted,)
            )
        )


def test_a_user_vote_on_a_users_own_post_is_no_feedback(store: SqliteStore) -> None:
    post = store.db.transaction(
        lambda c: store.feed.write_action(c, {"action": "post", "title": "Mine", "content": "c"}, "default", None, 1.0)
    )
    store.feed.vote(post["post_id"], "user", "down")
    assert store.feedback.list() == []


def test_the_next_heartbeat_is_told_what_the_user_rejected(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """#26 item 2 (first part): the thread's recent rejected actions travel in the prompt as data, with the
    instruction not to take that kind of action again for the same reason; without feedback, nothing is added."""
    first, _first_post = _post(runner, ollama, "Reminder: water the plants")
    plain = ollama.chat_requests()[-1].body["messages"][1]["content"]
    assert "rejected_by_user" not in plain
    store.feedback.record(first, "not_useful", "feed", "already_knew")
    second, second_post = _post(runner, ollama, "Something else")
    store.feed.undo("post", second_post, run_id=second)
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    runner.run("default")
    user = ollama.chat_requests()[-1].body["messages"][1]["content"]
    assert "Do not take the same kind of action again for the same reason" in user
    block = user.split('"rejected_by_user": [', 1)[1].split("]", 1)[0]
    assert block.index("Something else") < block.index("Reminder: water the plants")  # newest first
    assert '"user": "undone"' in block and '"user": "marked not useful", "reason": "already knew"' in block


def test_the_same_answer_the_user_rejected_is_refused_by_the_app(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """#26 item 2 (second part): a post titled as one the user rejected, or a comment on the same post as a
    rejected comment, is refused like a duplicate — written nowhere, with its own kind."""
    first, post_id = _post(runner, ollama, "Reminder: water the plants")
    store.feedback.record(first, "not_useful", "history", "not_now")
    again = {"action": "post", "rule": 1, "because": _new(runner, "again"), "title": "REMINDER:  water the plants",
             "content": "Other words.", "reason": "r"}  # fmt: skip
    ollama.script(Reply(json.dumps(again)))
    refused = runner.run("default")
    assert (refused.status, refused.error_kind) == ("failed", "rejected_before")
    assert refused.reason == "refused: the same post as one you rejected (marked not useful: not now)"
    comment = {"action": "comment", "rule": 1, "post_id": post_id, "content": "Did you water them?", "reason": "r"}
    ollama.script(Reply(json.dumps(comment | {"because": _new(runner, "water?")})))
    commented = runner.run("default")
    assert commented.status == "ok"
    store.feedback.record(commented.id, "not_useful", "feed", "wrong")
    ollama.script(Reply(json.dumps(comment | {"content": "Plants?", "because": _new(runner, "plants?")})))
    assert runner.run("default").error_kind == "rejected_before"
    assert [p.title for p in store.feed.posts()] == ["Reminder: water the plants"]  # nothing more written
    assert len(store.feed.comments(post_id)) == 1


def test_three_rejections_in_a_week_step_the_daily_cap_down_and_say_how_to_restore_it(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """#26 item 2 (third part): every third rejection of one kind within a week lowers that kind's daily cap by
    one, never below 1, and the one who gave it is told how to restore it."""
    store.threads.set_config("default", HeartbeatConfig(max_posts_per_day=10))
    made = [_post(runner, ollama, f"Post {i}") for i in range(9)]
    notes = []
    for i, (run_id, post_id) in enumerate(made[:6]):
        if i % 2:
            notes.append(store.feed.undo("post", post_id, run_id=run_id)["note"])
        else:
            notes.append(store.feedback.record(run_id, "not_useful", "history").note)
    assert notes[2] == (
        "You rejected 3 of thread default's posts this week, so it may now make 9 a day (was 10). "
        "To restore: heartbeat-desktop config set --thread default max_posts_per_day 10"
    )
    assert notes[5] is not None and "now make 8 a day (was 9)" in notes[5]
    assert [n is None for n in notes] == [True, True, False, True, True, False]
    store.threads.set_config("default", HeartbeatConfig(max_posts_per_day=1))
    last = [store.feedback.record(run_id, "not_useful", "cli").note for run_id, _ in made[6:]]
    assert last == [None, None, None]  # the ninth rejection: already at 1, never 0
    assert store.threads.get("default").config.max_posts_per_day == 1


def _rejected_block(runner: HeartbeatRunner, ollama: OllamaServer) -> str:
    """The rejected_by_user block of the prompt the next heartbeat sends the server ("" when there is none)."""
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    runner.run("default")
    user = ollama.chat_requests()[-1].body["messages"][1]["content"]
    return user.split('"rejected_by_user": [', 1)[1].split("]", 1)[0] if '"rejected_by_user"' in user else ""


def test_the_users_latest_vote_on_the_agents_post_wins(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """A down-vote the user took back with an up-vote is no rejection — not in the run's outcome, the act-on
    rate, the prompt's rejected_by_user or the cap step-down — and an up-vote turned into a down-vote is one."""
    store.threads.set_config("default", HeartbeatConfig(max_posts_per_day=10))
    changed_run, changed_post = _post(runner, ollama, "Changed my mind")
    store.feed.vote(changed_post, "user", "down")
    assert "Changed my mind" in _rejected_block(runner, ollama)
    store.feed.vote(changed_post, "user", "up")
    now = store.clock()
    assert user_feedback(store.runs.get(changed_run), store.feedback.for_run(changed_run), now)["outcome"] == "kept"
    rate = store.feedback.act_on("default")
    assert (rate.kept, rate.rejected) == (1, 0)
    assert _rejected_block(runner, ollama) == ""
    flipped_run, flipped_post = _post(runner, ollama, "Liked it at first")
    store.feed.vote(flipped_post, "user", "up")
    store.feed.vote(flipped_post, "user", "down")
    assert user_feedback(store.runs.get(flipped_run), store.feedback.for_run(flipped_run), now)["outcome"] == (
        "rejected"
    )
    rate = store.feedback.act_on("default")
    assert (rate.kept, rate.rejected) == (1, 1)
    block = _rejected_block(runner, ollama)
    assert "Liked it at first" in block and "Changed my mind" not in block
    # The cap: two runs rejected now (the flipped one, and one more); the taken-back down-vote is not a third.
    other_run, other_post = _post(runner, ollama, "Another")
    assert store.feed.vote(other_post, "user", "down").get("note") is None
    assert store.threads.get("default").config.max_posts_per_day == 10
    # Down again on the first post: a third rejected run, so the cap steps down, once.
    assert "now make 9 a day" in (store.feed.vote(changed_post, "user", "down").get("note") or "")
    store.feed.vote(changed_post, "user", "up")
    assert store.feed.vote(changed_post, "user", "down").get("note") is None  # the same run again: no second step
    assert store.threads.get("default").config.max_posts_per_day == 9
    assert store.feedback.for_run(other_run)[0].kind == "down_vote"


def test_a_rule_is_the_reason_of_the_one_rejection_it_belongs_to(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore
) -> None:
    """ "Don't suggest this again" adds no second row: the rule rides on the run's rejection (made for it when
    there is none), and reaches the prompt as the user's reason; taking the rule back takes back what it did."""
    chip_run, _ = _post(runner, ollama, "Plants again")
    store.feedback.record(chip_run, "not_useful", "feed", "already_knew")
    event, made = store.feedback.with_rule(chip_run, "If plants → HEARTBEAT_OK.", "feed")
    assert not made and event.reason == "already_knew"
    assert [(e.kind, e.reason, e.rule) for e in store.feedback.for_run(chip_run)] == [
        ("not_useful", "already_knew", "If plants → HEARTBEAT_OK.")
    ]
    bare_run, _ = _post(runner, ollama, "Weather report")
    event, made = store.feedback.with_rule(bare_run, "  No  weather posts. ", "history")
    assert made and [(e.kind, e.reason, e.rule, e.source) for e in store.feedback.for_run(bare_run)] == [
        ("not_useful", None, "No weather posts.", "history")
    ]
    block = _rejected_block(runner, ollama)
    assert '"reason": "No weather posts."' in block
    assert '"reason": "already knew: If plants → HEARTBEAT_OK."' in block
    store.feedback.without_rule(event.id, made)
    assert store.feedback.for_run(bare_run) == []
