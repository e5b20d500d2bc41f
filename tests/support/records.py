"""Run records for store tests."""

from __future__ import annotations

import time

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.store import SqliteStore


def started_run(store: SqliteStore, status: str = "started", thread: str = "default") -> RunRecord:
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
