"""Each task's slot (core/tasks.py): the slot it last served, or when it was first seen, per thread and task."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable

from .db import Database


class TaskSlotRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def slots(self, thread_id: str, keys: Iterable[str]) -> dict[str, float]:
        """The anchor of each of the thread's tasks: the slot it last served, or when it was first seen (now,
        for a task seen for the first time: its first run is its next time, never at once). Tasks no longer in
        the file are forgotten, so one written again later starts afresh."""
        wanted = list(dict.fromkeys(keys))
        now = self.clock()
        found = self._anchors(thread_id)
        if set(found) == set(wanted):  # the usual case, after every run: nothing to write, no write lock taken
            return {key: found[key] for key in wanted}

        def work(c: sqlite3.Connection) -> dict[str, float]:
            c.executemany(
                "INSERT INTO task_slots (thread_id, task_key, last_slot_at) VALUES (?, ?, ?) "
                "ON CONFLICT (thread_id, task_key) DO NOTHING",
                [(thread_id, key, now) for key in wanted],
            )
            rows = c.execute("SELECT task_key, last_slot_at FROM task_slots WHERE thread_id = ?", (thread_id,))
            found = {r["task_key"]: float(r["last_slot_at"]) for r in rows.fetchall()}
            stale = [key for key in found if key not in wanted]
            c.executemany(
                "DELETE FROM task_slots WHERE thread_id = ? AND task_key = ?", [(thread_id, k) for k in stale]
            )
            return {key: found[key] for key in wanted}

        return self.db.transaction(work)

    def _anchors(self, thread_id: str) -> dict[str, float]:
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT task_key, last_slot_at FROM task_slots WHERE thread_id = ?", (thread_id,)
            ).fetchall()
        )
        return {r["task_key"]: float(r["last_slot_at"]) for r in rows}

    def served(self, thread_id: str, key: str, slot: float) -> None:
        """The task ran for `slot` (whatever the model answered): its next time follows that slot. Never moved
        back: a slot already passed over stays passed."""
        self.db.transaction(
            lambda c: c.execute(
                "INSERT INTO task_slots (thread_id, task_key, last_slot_at) VALUES (?, ?, ?) "
                "ON CONFLICT (thread_id, task_key) "
                "DO UPDATE SET last_slot_at = max(last_slot_at, excluded.last_slot_at)",
                (thread_id, key, slot),
            )
        )
