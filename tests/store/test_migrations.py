"""Schema versions and upgrades. Real SQLite files in temp directories."""

import sqlite3
from pathlib import Path

import pytest

from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore
from heartbeat_desktop.store.migrations import LATEST


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
