import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore
from heartbeat_desktop.store.migrations import LATEST


def _run(store: SqliteStore, status: str = "started", thread: str = "default") -> RunRecord:
    run = RunRecord(
        id=f"r-{time.monotonic_ns()}",
        thread_id=thread,
        trigger="manual",
        dry_run=False,
        started_at=time.time(),
        status=status,
    )
    store.insert_run(run)
    return run


def test_schema_wal_foreign_keys_and_default_thread(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "heartbeat.db")
    assert s.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert s.db.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert [t.id for t in s.threads.list()] == ["default"]
    s.close()
    s2 = SqliteStore(tmp_path / "heartbeat.db")  # reopening migrates nothing and keeps data
    assert [t.id for t in s2.threads.list()] == ["default"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "h.db").close()
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this app"):
        SqliteStore(tmp_path / "h.db")


_OPEN_RUN_AND_HANG = """
import os, sys, time
from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.store import SqliteStore
s = SqliteStore(sys.argv[1])
s.insert_run(RunRecord(id="r-crash", thread_id="default", trigger="schedule", dry_run=False, started_at=time.time()))
print("started", flush=True)
time.sleep(60)
"""


def test_crashed_started_run_becomes_interrupted_but_a_live_one_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStore(path).close()
    child = subprocess.Popen(
        [sys.executable, "-c", _OPEN_RUN_AND_HANG, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout.readline().strip() == "started"
    s = SqliteStore(path)  # the other process is alive: its run is in flight, not crashed
    assert s.runs.get("r-crash").status == "started"
    s.close()
    child.kill()  # SIGKILL: no cleanup runs
    child.wait()
    s2 = SqliteStore(path)
    got = s2.runs.get("r-crash")
    assert got is not None and got.status == "interrupted" and got.finished_at


def test_very_old_started_run_is_interrupted_even_if_its_pid_is_reused(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "h.db")
    run = RunRecord(id="old", thread_id="default", trigger="schedule", dry_run=False, started_at=time.time() - 3 * 3600)
    s.insert_run(run)  # carries this (live) process's pid
    assert s.runs.mark_interrupted() == 1
    assert s.runs.get("old").status == "interrupted"


def test_action_rows_are_unique_per_run(store: SqliteStore) -> None:
    run = _run(store)
    run.status = "ok"
    store.finish_run(run, {"action": "post", "title": "t", "content": "c"})
    # a replay of the same run cannot act twice
    with pytest.raises(StoreError, match="not in flight"):
        store.finish_run(run, {"action": "post", "title": "t", "content": "c"})
    with pytest.raises(sqlite3.IntegrityError):
        store.db.conn.execute(
            "INSERT INTO posts (thread_id, run_id, title, content, created_at) VALUES ('default', ?, 'x', 'y', 0)",
            (run.id,),
        )
    assert store.feed.counts()["posts"] == 1


def test_votes_replace_and_score(store: SqliteStore) -> None:
    run = _run(store)
    run.status = "ok"
    post_id = store.finish_run(run, {"action": "post", "title": "t", "content": "c"})["post_id"]
    store.threads.create("other")
    store.feed.vote(post_id, "default", "up")
    store.feed.vote(post_id, "other", "up")
    assert store.feed.get_post(post_id).score == 2
    store.feed.vote(post_id, "other", "down")  # a later vote replaces the earlier one
    assert store.feed.get_post(post_id).score == 0
    with pytest.raises(StoreError, match="does not exist"):
        store.feed.vote(999, "default", "up")


def test_comment_needs_a_post(store: SqliteStore) -> None:
    run = _run(store)
    run.status = "ok"
    with pytest.raises(StoreError, match="does not exist"):
        store.finish_run(run, {"action": "comment", "post_id": 42, "content": "c"})
    assert store.runs.get(run.id).status == "started"  # rolled back as a whole


def test_threads_messages_notes(store: SqliteStore) -> None:
    store.threads.create("work", "Work")
    with pytest.raises(StoreError, match="already exists"):
        store.threads.create("work")
    with pytest.raises(StoreError, match="invalid thread id"):
        store.threads.create("Bad Id!")
    store.threads.add_message("work", "hello")
    store.threads.add_note("work", "likes tea", "memory")
    nid = store.threads.add_note("work", "said coffee", "contradiction")
    store.threads.set_note_resolved(nid)
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


def test_locked_database_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    s = SqliteStore(path)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release() -> None:
        time.sleep(1.0)
        blocker.execute("COMMIT")
        released.set()

    threading.Thread(target=release).start()
    t0 = time.monotonic()
    mid = s.threads.add_message("default", "written while locked")
    waited = time.monotonic() - t0
    assert released.is_set() and waited >= 0.9
    assert [m.id for m in s.threads.messages("default")] == [mid]
    blocker.close()


def test_lock_past_the_budget_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    s = SqliteStore(path, retry_budget_s=0.5)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreError, match="locked by another program"):
        s.threads.add_message("default", "x")
    blocker.execute("ROLLBACK")
    s.threads.add_message("default", "x")  # and works again once released
    assert s.integrity_check() == "ok"


def test_sql_injection_is_inert(store: SqliteStore) -> None:
    evil = "x'); DROP TABLE posts; --"
    store.threads.add_message("default", evil)
    store.settings.set("default_model", evil)
    assert store.threads.messages("default")[0].text == evil
    assert store.settings.get("default_model") == evil
    assert store.feed.counts()["posts"] == 0


def test_upgrade_unescapes_what_agents_wrote_and_leaves_user_text_alone(tmp_path: Path) -> None:
    """Migration 8: agent text was stored HTML-escaped; it is now stored as written."""
    import sqlite3

    from heartbeat_desktop.store.migrations import MIGRATIONS, migrate

    db = sqlite3.connect(tmp_path / "old.db")
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number}")
    db.execute("INSERT INTO threads (id, title, created_at) VALUES ('default', 'Default', 0)")
    db.execute(
        "INSERT INTO runs (id, thread_id, trigger, status, started_at) VALUES ('r1', 'default', 'manual', 'ok', 0)"
    )
    db.execute(
        "INSERT INTO runs (id, thread_id, trigger, status, started_at) VALUES ('r2', 'default', 'manual', 'ok', 0)"
    )
    db.execute(
        "INSERT INTO posts (id, thread_id, run_id, title, content, created_at) "
        "VALUES (1, 'default', 'r1', 'Tom &amp; Jerry', '&lt;b&gt;it&#x27;s&lt;/b&gt;', 0)"
    )
    db.execute(
        "INSERT INTO comments (post_id, thread_id, run_id, content, created_at) "
        "VALUES (1, 'default', 'r2', 'a &lt; b', 0)"
    )
    db.execute(
        "INSERT INTO messages (thread_id, role, text, created_at) "
        "VALUES ('default', 'user', 'I wrote &amp; literally', 0)"
    )
    db.commit()
    migrate(db)
    assert db.execute("SELECT title, content FROM posts").fetchone() == ("Tom & Jerry", "<b>it's</b>")
    assert db.execute("SELECT content FROM comments").fetchone() == ("a < b",)
    assert db.execute("SELECT text FROM messages").fetchone() == ("I wrote &amp; literally",)
    db.close()
