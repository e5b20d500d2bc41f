"""#27 item 3: the user's comment on an agent's post, and the open contradiction notes that post was raised
from (its run's citations). Real SQLite files in temp directories."""

from __future__ import annotations

import pytest

from heartbeat_desktop.core.ports import PostNotFound, StoreError
from heartbeat_desktop.store import SqliteStore
from tests.support.records import started_run


def _agent_post(store: SqliteStore, because: list[str], thread: str = "default") -> int:
    run = started_run(store, thread=thread)
    run.status = "ok"
    run.decision = {"action": "post", "rule": 1, "because": because, "title": "Which is it?", "content": "c"}
    return int(store.finish_run(run, {"action": "post", "title": "Which is it?", "content": "c"})["post_id"])


def test_a_comment_on_a_post_raised_from_a_contradiction_offers_that_note(store: SqliteStore) -> None:
    contradiction = store.threads.add_note("default", "Ana said Tuesday; Ben said Thursday", "contradiction")
    memory = store.threads.add_note("default", "Ana likes mornings", "memory")
    post_id = _agent_post(store, [f"n{contradiction}", f"n{memory}", "m1"])
    answer = store.answers.comment(post_id, "It is Thursday.")
    assert [n.id for n in answer.open_notes] == [contradiction]  # a memory note is not a question to close
    [comment] = store.feed.comments(post_id)
    assert comment.id == answer.comment_id and comment.content == "It is Thursday."
    assert comment.thread_id is None and comment.run_id is None  # the user's, not an agent's
    store.threads.set_note_resolved("default", contradiction)
    assert store.answers.comment(post_id, "Really.").open_notes == ()  # resolved: nothing more to offer
    assert [n.resolved for n in store.answers.post_notes(post_id, open_only=False)] == [True]


def test_posts_that_cite_no_note_or_are_not_the_agents_offer_nothing(store: SqliteStore) -> None:
    store.threads.create("other")
    elsewhere = store.threads.add_note("other", "x or y", "contradiction")
    post_id = _agent_post(store, [f"n{elsewhere}"])  # another thread's note id: not this post's thread
    assert store.answers.comment(post_id, "ok").open_notes == ()
    plain = _agent_post(store, ["m1"])
    assert store.answers.comment(plain, "ok").open_notes == ()


def test_a_comment_needs_a_post_and_some_text(store: SqliteStore) -> None:
    with pytest.raises(PostNotFound):
        store.answers.comment(999, "hello")
    post_id = _agent_post(store, [])
    with pytest.raises(StoreError, match="empty"):
        store.answers.comment(post_id, " \u200b ")
    with pytest.raises(StoreError, match="the most is"):
        store.answers.comment(post_id, "x" * 100_001)
    assert store.feed.comments(post_id) == []
