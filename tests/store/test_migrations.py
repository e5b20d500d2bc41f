"""Schema versions and upgrades. Real SQLite files in temp directories."""

import sqlite3
import time
from pathlib import Path

import pytest

from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore
from heartbeat_desktop.store.migrations import LATEST, MIGRATIONS, migrate
from tests.support.lock_holder import lock_held_elsewhere


def _schema_at(path: Path, version: int) -> sqlite3.Connection:
    """A database as an older app left it: the first `version` migrations applied, the rest not."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    for number, step in enumerate(MIGRATIONS[:version], start=1):
        if callable(step):
            step(db)
        else:
            db.executescript(step)
        db.execute(f"PRAGMA user_version = {number}")
    return db


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


def test_the_newest_post_undone_never_lends_its_id_to_the_next(tmp_path: Path) -> None:
    """#22: with INTEGER PRIMARY KEY alone, deleting the newest post freed its id; the next post took it and an
    old notification's Undo (or History's link) then named the other post."""
    store = SqliteStore(tmp_path / "h.db")
    write = store.feed.write_action
    first = store.db.transaction(
        lambda c: write(c, {"action": "post", "title": "A", "content": "a"}, "default", None, 1)
    )
    store.threads.create("other", "Other")
    run = "r-newest"
    store.db.conn.execute(
        "INSERT INTO runs (id, thread_id, trigger, status, started_at) VALUES (?, 'default', 'schedule', 'ok', 2)",
        (run,),
    )
    newest = store.db.transaction(
        lambda c: write(c, {"action": "post", "title": "B", "content": "b"}, "default", run, 2)
    )
    store.feed.undo("post", newest["post_id"])
    again = store.db.transaction(lambda c: write(c, {"action": "post", "title": "C", "content": "c"}, "other", None, 3))
    assert again["post_id"] > newest["post_id"] > first["post_id"]
    message_ids = [store.threads.add_message("default", f"m{i}") for i in range(2)]
    store.db.conn.execute("DELETE FROM messages WHERE id = ?", (message_ids[-1],))
    assert store.threads.add_message("default", "m2") > message_ids[-1]
    store.close()


def test_upgrading_to_ids_never_reused_keeps_every_row_and_starts_past_every_id_given_out(tmp_path: Path) -> None:
    """Migration 11 rebuilds the tables (SQLite cannot add AUTOINCREMENT in place): rows, ids, indexes and the
    comments and votes of a post all survive, and the sequence starts past ids that only the undo log and the
    runs' results still remember."""
    from heartbeat_desktop.store.migrations import migrate

    db = _schema_at(tmp_path / "old.db", 10)
    db.execute("INSERT INTO threads (id, title, created_at) VALUES ('default', 'Default', 0)")
    db.execute(
        "INSERT INTO runs (id, thread_id, trigger, status, started_at, action_result) VALUES "
        "('r7', 'default', 'schedule', 'ok', 0, '{\"action\": \"post\", \"post_id\": 7, \"title\": \"gone\"}')"
    )
    db.execute(
        "INSERT INTO runs (id, thread_id, trigger, status, started_at, action_result) VALUES "
        "('r9', 'default', 'schedule', 'ok', 0, 'not json')"
    )
    db.execute("INSERT INTO posts (id, thread_id, title, content, created_at) VALUES (1, 'default', 'T', 'c', 0)")
    db.execute("INSERT INTO posts (id, thread_id, title, content, created_at) VALUES (2, 'default', 'U', 'd', 0)")
    db.execute("INSERT INTO comments (id, post_id, thread_id, content, created_at) VALUES (5, 1, 'default', 'x', 0)")
    db.execute("INSERT INTO votes (id, post_id, thread_id, direction, created_at) VALUES (3, 1, 'default', 'up', 0)")
    db.execute(
        "INSERT INTO undo_log (kind, target_id, run_id, snapshot, created_at) VALUES ('comment', 11, NULL, '{}', 0)"
    )
    db.execute("INSERT INTO messages (id, thread_id, role, text, created_at) VALUES (4, 'default', 'user', 'hi', 0)")
    indexes_before = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'"))
    migrate(db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on after the rebuild
    assert db.execute("SELECT id, title FROM posts ORDER BY id").fetchall() == [(1, "T"), (2, "U")]
    assert db.execute("SELECT id, post_id FROM comments").fetchall() == [(5, 1)]  # no cascade from the rebuild
    assert db.execute("SELECT id, post_id FROM votes").fetchall() == [(3, 1)]
    assert db.execute("SELECT id FROM messages").fetchall() == [(4,)]
    # migration 13's own (#26) and 14's primary key (task slots), not the rebuild's
    later = {"feedback_run", "feedback_thread_created", "sqlite_autoindex_task_slots_1"}
    indexes_after = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'"))
    assert [name for name in indexes_after if name not in later] == indexes_before
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    for table in ("posts", "comments", "votes", "messages", "notes", "undo_log"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert "AUTOINCREMENT" in sql, table
    db.execute("INSERT INTO posts (thread_id, title, content, created_at) VALUES ('default', 'V', 'e', 0)")
    assert db.execute("SELECT max(id) FROM posts").fetchone()[0] == 8  # past post 7, which only a run remembers
    db.execute("INSERT INTO comments (post_id, thread_id, content, created_at) VALUES (2, 'default', 'y', 0)")
    assert db.execute("SELECT max(id) FROM comments").fetchone()[0] == 12  # past 11, only in the undo log
    db.execute("DELETE FROM posts WHERE id = 1")  # foreign keys on again: the post's comments and votes go
    assert db.execute("SELECT count(*) FROM comments WHERE post_id = 1").fetchone()[0] == 0
    db.close()


def test_refused_runs_from_before_the_kind_was_stored_get_their_kind(tmp_path: Path) -> None:
    """Migration 12: the verdict and backoff decide by `error_kind`, never by a reason's wording, so runs
    recorded before the kind was stored are given it once, here."""
    from heartbeat_desktop.core import refusals
    from heartbeat_desktop.store.migrations import migrate

    db = _schema_at(tmp_path / "old.db", 11)
    db.execute("INSERT INTO threads (id, title, created_at) VALUES ('default', 'Default', 0)")
    rows = {
        "dup": ("failed", refusals.duplicate(3), None),
        "cap": ("failed", refusals.daily_cap("post", 2, 2), None),
        "no": ("failed", refusals.not_allowed("vote", ["post"]), None),
        "down": ("failed", "cannot reach the model server", "unreachable"),
        "old": ("failed", "HTTP error talking to Ollama", None),
        "ok": ("ok", "HEARTBEAT_OK", None),
    }
    for run_id, (status, reason, kind) in rows.items():
        db.execute(
            "INSERT INTO runs (id, thread_id, trigger, status, started_at, reason, error_kind) "
            "VALUES (?, 'default', 'schedule', ?, 0, ?, ?)",
            (run_id, status, reason, kind),
        )
    migrate(db)
    kinds = dict(db.execute("SELECT id, error_kind FROM runs").fetchall())
    assert kinds == {
        "dup": "duplicate", "cap": "daily_cap", "no": "not_allowed", "down": "unreachable", "old": None, "ok": None,
    }  # fmt: skip


def test_a_threads_last_refusal_keeps_its_kind_across_the_upgrade(tmp_path: Path) -> None:
    """Migration 15 (#27): the icon tells a refusal from trouble by the last run's kind; a thread whose last
    heartbeat was refused before the upgrade must not turn the icon red after it."""
    from heartbeat_desktop.store.migrations import migrate

    db = _schema_at(tmp_path / "old.db", 14)
    for thread in ("calm", "down"):
        db.execute("INSERT INTO threads (id, title, created_at) VALUES (?, ?, 0)", (thread, thread))
    for run_id, thread, kind, started in (("r0", "calm", "unreachable", 5.0), ("r1", "calm", "nothing_new", 10.0),
                                          ("r2", "down", "unreachable", 10.0)):  # fmt: skip
        db.execute(
            "INSERT INTO runs (id, thread_id, trigger, status, started_at, reason, error_kind, dry_run) "
            "VALUES (?, ?, 'schedule', 'failed', ?, 'x', ?, 0)",
            (run_id, thread, started, kind),
        )
        db.execute(
            "INSERT INTO thread_state (thread_id, last_run_at, last_status, consecutive_failures) "
            "VALUES (?, ?, 'failed', 0) ON CONFLICT (thread_id) DO UPDATE SET last_run_at = excluded.last_run_at",
            (thread, started),
        )
    migrate(db)
    kinds = dict(db.execute("SELECT thread_id, last_error_kind FROM thread_state").fetchall())
    assert kinds == {"calm": "nothing_new", "down": "unreachable"}


def test_a_newer_install_does_not_upgrade_the_database_under_a_running_app(tmp_path: Path) -> None:
    """Found by the endurance run: a `status` from a newer version upgraded the schema under the running
    app, whose every heartbeat then failed. While another process holds the data directory's lock, an
    upgrade is refused with what to do; the data is left as it was; once the app is gone it upgrades."""
    _schema_at(tmp_path / "heartbeat.db", 11).close()
    with lock_held_elsewhere(tmp_path) as app:
        with pytest.raises(StoreError, match=rf"pid {app.pid}\) is running an older version.*heartbeat-desktop quit"):
            SqliteStore(tmp_path / "heartbeat.db")
        with sqlite3.connect(tmp_path / "heartbeat.db") as check:
            assert check.execute("PRAGMA user_version").fetchone()[0] == 11
    store = SqliteStore(tmp_path / "heartbeat.db")  # nobody runs on it now
    store.close()
    with sqlite3.connect(tmp_path / "heartbeat.db") as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_a_command_waits_for_a_running_apps_own_upgrade_instead_of_calling_it_older(tmp_path: Path) -> None:
    """CI saw `status` refuse a same-version app that had just taken the lock and was upgrading the schema (each
    step commits, so an older number shows meanwhile): the command waits for the upgrade to finish."""
    import threading

    _schema_at(tmp_path / "heartbeat.db", 11).close()

    def upgrade_like_the_app() -> None:
        time.sleep(0.3)
        conn = sqlite3.connect(tmp_path / "heartbeat.db", isolation_level=None)
        migrate(conn)
        conn.close()

    with lock_held_elsewhere(tmp_path):
        upgrading = threading.Thread(target=upgrade_like_the_app)
        upgrading.start()
        store = SqliteStore(tmp_path / "heartbeat.db")
        upgrading.join()
        store.close()
    with sqlite3.connect(tmp_path / "heartbeat.db") as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == LATEST
