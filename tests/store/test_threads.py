"""Threads, their messages and notes. Real SQLite files in temp directories."""

import pytest

from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore


def test_threads_messages_notes(store: SqliteStore) -> None:
    store.threads.create("work", "Work")
    with pytest.raises(StoreError, match="already exists"):
        store.threads.create("work")
    with pytest.raises(StoreError, match="invalid thread id"):
        store.threads.create("Bad Id!")
    store.threads.add_message("work", "hello")
    store.threads.add_note("work", "likes tea", "memory")
    nid = store.threads.add_note("work", "said coffee", "contradiction")
    store.threads.set_note_resolved("work", nid)
    with pytest.raises(StoreError, match="has no note"):
        store.threads.set_note_resolved("default", nid)  # another thread's note
    assert [m.text for m in store.threads.messages("work")] == ["hello"]
    assert [n.text for n in store.threads.notes("work")] == ["likes tea"]
    assert store.threads.get("work").last_active_at is not None
    store.threads.remove("work")
    assert store.threads.get("work") is None
    assert store.db.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    with pytest.raises(StoreError):
        store.threads.remove("default")


def test_fingerprint_changes_with_new_data(store: SqliteStore) -> None:
    before = store.thread_fingerprint("default")
    store.threads.add_message("default", "hi")
    after_msg = store.thread_fingerprint("default")
    store.threads.add_note("default", "n")
    assert len({before, after_msg, store.thread_fingerprint("default")}) == 3


def test_resuming_a_thread_clears_its_backoff(store: SqliteStore) -> None:
    """Found by a new user: four refused runs, then `threads resume`, and the next heartbeat was 6 h away."""
    import time as _time

    from heartbeat_desktop.core.models import RunRecord

    for i in range(4):  # refused manual runs never count toward backoff (#22)...
        run = RunRecord(id=f"m{i}", thread_id="default", trigger="manual", dry_run=False, started_at=_time.time())
        store.insert_run(run)
        run.status, run.reason = "failed", "refused: the same post as #1, made in the last 24 h"
        run.error_kind = "duplicate"
        store.finish_run(run)
    assert store.runs.state("default").consecutive_failures == 0
    for i in range(4):  # ...scheduled runs whose model call failed do
        run = RunRecord(id=f"f{i}", thread_id="default", trigger="schedule", dry_run=False, started_at=_time.time())
        store.insert_run(run)
        run.status, run.reason, run.error_kind = "failed", "did not answer within 120 s", "timeout"
        store.finish_run(run)
    assert store.runs.state("default").consecutive_failures == 4
    store.threads.set_paused("default", True)
    assert store.runs.state("default").consecutive_failures == 4
    store.threads.set_paused("default", False)
    assert store.runs.state("default").consecutive_failures == 0
