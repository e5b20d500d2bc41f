"""The database connection: locks and retries. Real SQLite files in temp directories."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore


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
