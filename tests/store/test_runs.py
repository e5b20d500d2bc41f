"""Run records: crash recovery, one action per run. Real SQLite files in temp directories."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore
from tests.support.records import started_run as _run

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
