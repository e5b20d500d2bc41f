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


def _finished(store: SqliteStore, run_id: str, started_at: float, **kw: object) -> None:
    run = RunRecord(id=run_id, thread_id="default", trigger="schedule", dry_run=False, started_at=started_at)
    store.insert_run(run)
    run.status, run.prompt, run.raw_reply, run.reasoning = "ok", "P" * 4000, '{"action": "none"}', "because"
    run.decision, run.finished_at, run.inputs = {"action": "none", "reason": "quiet"}, started_at + 1, {"posts": [1]}
    for key, value in kw.items():
        setattr(run, key, value)
    store.finish_run(run)


def test_the_retention_drops_old_prompts_and_replies_and_keeps_the_outcome(store: SqliteStore) -> None:
    """#22: a prompt per heartbeat, kept forever, is what grows the database for as long as the app runs."""
    now = time.time()
    for i in range(7):
        _finished(store, f"old{i}", now - 40 * 86400 + i)
    _finished(store, "new", now - 3600)
    store.insert_run(
        RunRecord(id="open", thread_id="default", trigger="schedule", dry_run=False, started_at=now - 50 * 86400)
    )

    assert store.runs.prune_details(now - 30 * 86400, batch=3) == 7  # in batches of 3: 3 + 3 + 1
    old = store.runs.get("old0")
    assert (old.prompt, old.raw_reply, old.reasoning, old.inputs) == (None, None, None, None)
    assert old.status == "ok" and old.decision == {"action": "none", "reason": "quiet"} and old.pruned_at
    new = store.runs.get("new")
    assert new.prompt == "P" * 4000 and new.pruned_at is None
    assert store.runs.get("open").pruned_at is None  # a run in flight is never touched
    assert store.runs.prune_details(now - 30 * 86400) == 0  # once is enough


def test_history_says_how_late_a_run_started_and_what_was_pruned(store: SqliteStore) -> None:
    from heartbeat_desktop.core.present import run_lines, run_record

    now = time.time()
    _finished(store, "late", now - 1000, slot_at=now - 1300)
    lines = run_lines(store.runs.get("late"))
    assert any("started 5 min after its" in line for line in lines)
    assert run_record(store.runs.get("late"))["late_s"] == 300.0
    store.runs.prune_details(now)
    pruned = store.runs.get("late")
    assert any("prompt and reply removed" in line for line in run_lines(pruned))
    assert run_record(pruned)["pruned_at"] is not None
