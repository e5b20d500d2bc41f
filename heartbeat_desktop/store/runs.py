"""Run records (the history) and the per-thread state that the precheck and scheduler keep."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.models import RunRecord, RunStatus
from ..core.refusals import REFUSAL_KINDS, REFUSED
from ..core.schedule import SCHEDULED_TRIGGERS, counts_toward_backoff
from .db import Database

STALE_RUN_S = 2 * 3600  # longer than any LLM timeout: a pid reused after a reboot cannot keep a run open

_COLUMNS = (
    "id",
    "thread_id",
    "trigger",
    "dry_run",
    "status",
    "reason",
    "model",
    "prompt",
    "raw_reply",
    "decision",
    "action_result",
    "warnings",
    "fingerprint",
    "prompt_tokens",
    "completion_tokens",
    "started_at",
    "finished_at",
    "llm_ms",
    "total_ms",
    "decision_mode",
    "reasoning",
    "reasoning_ms",
    "inputs",
    "slot_at",
    "error_kind",
)
_INSERT = f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
_UPDATE = "UPDATE runs SET " + ", ".join(f"{c} = ?" for c in _COLUMNS[1:]) + " WHERE id = ?"  # noqa: S608


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _values(run: RunRecord) -> list[Any]:
    return [
        run.id,
        run.thread_id,
        run.trigger,
        int(run.dry_run),
        run.status,
        run.reason,
        run.model,
        run.prompt,
        run.raw_reply,
        _dump(run.decision),
        _dump(run.action_result),
        _dump(run.warnings or None),
        run.fingerprint,
        run.prompt_tokens,
        run.completion_tokens,
        run.started_at,
        run.finished_at,
        run.llm_ms,
        run.total_ms,
        run.decision_mode,
        run.reasoning,
        run.reasoning_ms,
        _dump(run.inputs),
        run.slot_at,
        run.error_kind,
    ]


_KIND_MARKS = ", ".join("?" * len(REFUSAL_KINDS))  # placeholders only: the kinds are bound parameters
# A run's status as History shows and counts it: a refusal is "refused", not "failed".
_SHOWN_STATUS = f"CASE WHEN status = 'failed' AND error_kind IN ({_KIND_MARKS}) THEN 'refused' ELSE status END"


def _filters(thread_id: str | None, status: str | None) -> tuple[list[str], list[Any]]:
    """WHERE fragments (fixed text) and their bound values for the history filters."""
    where: list[str] = []
    params: list[Any] = []
    if thread_id is not None:
        where.append("thread_id = ?")
        params.append(thread_id)
    if status == REFUSED:  # a refusal is stored as failed with its kind (core/refusals.py)
        where.append(f"status = 'failed' AND error_kind IN ({_KIND_MARKS})")
        params.extend(REFUSAL_KINDS)
    elif status == "failed":  # … so "failed" is what is left: the failures to fix
        where.append(f"status = 'failed' AND (error_kind IS NULL OR error_kind NOT IN ({_KIND_MARKS}))")
        params.extend(REFUSAL_KINDS)
    elif status is not None:
        where.append("status = ?")
        params.append(status)
    return where, params


def _where(fragments: list[str]) -> str:
    # Only fixed fragments are ever joined here; every value travels as a bound parameter.
    return " WHERE " + " AND ".join(fragments) if fragments else ""


def row_to_run(r: sqlite3.Row) -> RunRecord:
    """A run from a row; columns a query left out (the history page skips the heavy text) stay empty."""
    present = set(r.keys())

    def col(name: str) -> Any:
        return r[name] if name in present else None

    return RunRecord(
        id=r["id"],
        thread_id=r["thread_id"],
        trigger=r["trigger"],
        dry_run=bool(r["dry_run"]),
        started_at=r["started_at"],
        status=r["status"],
        reason=r["reason"],
        model=col("model"),
        prompt=col("prompt"),
        raw_reply=col("raw_reply"),
        decision=_load(col("decision")),
        action_result=_load(col("action_result")),
        finished_at=col("finished_at"),
        llm_ms=col("llm_ms"),
        total_ms=col("total_ms"),
        fingerprint=col("fingerprint"),
        prompt_tokens=col("prompt_tokens"),
        completion_tokens=col("completion_tokens"),
        warnings=_load(col("warnings")) or [],
        decision_mode=col("decision_mode"),
        reasoning=col("reasoning"),
        reasoning_ms=col("reasoning_ms"),
        inputs=_load(col("inputs")),
        slot_at=col("slot_at"),
        error_kind=col("error_kind"),
        pruned_at=col("pruned_at"),
    )


@dataclass(frozen=True)
class ThreadState:
    thread_id: str
    last_run_at: float | None
    last_status: RunStatus | None
    last_reason: str | None
    last_success_at: float | None
    last_success_fingerprint: str | None
    consecutive_failures: int
    next_due_at: float | None
    defer_until: float | None = None
    last_slot_at: float | None = None
    last_error_kind: str | None = None  # the last run's failure kind: a refusal is not trouble (core/refusals.py)


class RunRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def insert(self, c: sqlite3.Connection, run: RunRecord) -> None:
        c.execute(_INSERT, _values(run))
        c.execute("UPDATE runs SET pid = ? WHERE id = ?", (os.getpid(), run.id))
        if run.status != "started":
            self._update_state(c, run)

    def update(self, c: sqlite3.Connection, run: RunRecord) -> None:
        values = _values(run)
        c.execute(_UPDATE, [*values[1:], run.id])
        self._update_state(c, run)

    def _update_state(self, c: sqlite3.Connection, run: RunRecord) -> None:
        """Keep thread_state in step with the run, in the same transaction.

        Only a scheduled run moves the schedule: it records the slot it served (`last_slot_at`, the anchor
        of the next one) — unless it was deferred, when the same slot is tried again later. Backoff counts
        only scheduled failures of the model call (`core.schedule.counts_toward_backoff`); any real success
        ends it, a manual one too: backoff leaves a failing server alone, and a success shows it answers.
        A dry run (and a preview) is a question, not a heartbeat: besides its slot it changes nothing — not
        the last run time, the failure count, the last status the icon shows, or the "nothing new"
        fingerprint."""
        if run.trigger == "preview":
            return
        serves_slot = run.trigger in SCHEDULED_TRIGGERS and run.slot_at is not None and run.defer_until is None
        if serves_slot and run.status != "started":
            c.execute(
                """INSERT INTO thread_state (thread_id, last_slot_at)
                   SELECT ?, ? WHERE EXISTS (SELECT 1 FROM threads WHERE id = ?)
                   ON CONFLICT (thread_id) DO UPDATE SET last_slot_at = excluded.last_slot_at""",
                (run.thread_id, run.slot_at, run.thread_id),
            )
        if run.dry_run:
            return
        success = run.status == "ok"
        backoff = counts_toward_backoff(
            trigger=run.trigger, dry_run=run.dry_run, status=run.status, error_kind=run.error_kind
        )
        c.execute(
            """INSERT INTO thread_state (thread_id, last_run_at, last_status, last_reason, last_success_at,
                                         last_success_fingerprint, consecutive_failures, last_error_kind)
               SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM threads WHERE id = ?)
               ON CONFLICT (thread_id) DO UPDATE SET
                   last_run_at = excluded.last_run_at,
                   last_status = excluded.last_status,
                   last_reason = excluded.last_reason,
                   last_error_kind = excluded.last_error_kind,
                   last_success_at = COALESCE(excluded.last_success_at, last_success_at),
                   last_success_fingerprint = COALESCE(excluded.last_success_fingerprint, last_success_fingerprint),
                   consecutive_failures = CASE
                       WHEN ? THEN consecutive_failures + 1
                       WHEN ? THEN 0
                       ELSE consecutive_failures END""",
            (
                run.thread_id,
                run.started_at,
                run.status,
                run.reason,
                run.finished_at if success else None,
                # A task's run writes its task, not the thread's news: what it was shown is still new to the
                # next heartbeat (a task at :30 made the heartbeat after it "nothing new since the last run")
                run.fingerprint if success and run.trigger != "task" else None,
                1 if backoff else 0,
                run.error_kind if run.status == "failed" else None,
                run.thread_id,
                backoff,
                success,
            ),
        )

    def get(self, run_id: str) -> RunRecord | None:
        row = self.db.read(lambda c: c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
        return row_to_run(row) if row else None

    def page(
        self,
        thread_id: str | None = None,
        status: str | None = None,
        after: tuple[float, int] | None = None,
        limit: int = 200,
    ) -> list[tuple[int, RunRecord]]:
        """One page of history, newest first, for the History window: `(rowid, run)` pairs.

        Keyset paging on (started_at, rowid) — each page is an index range scan however deep it is,
        which is what lets a million runs scroll as fast as ten. Pass the last pair's
        `(run.started_at, rowid)` as `after` for the next page. The heavy text columns stay out.
        """
        where, params = _filters(thread_id, status)
        if after is not None:
            where.append("(started_at, rowid) < (?, ?)")
            params.extend(after)
        sql = (
            "SELECT rowid AS rid, id, thread_id, trigger, dry_run, status, reason, model, decision, started_at, "  # noqa: S608
            "finished_at, llm_ms, total_ms, error_kind FROM runs"
            + _where(where)
            + " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        )
        params.append(limit)
        rows = self.db.read(lambda c: c.execute(sql, params).fetchall())
        return [(r["rid"], row_to_run(r)) for r in rows]

    def daily_stats(self, since: float, thread_id: str | None = None) -> list[tuple[str, str, int, float | None]]:
        """(local day, status as shown, runs, mean LLM ms) since `since`: the History chart, where a refusal
        counts as "refused", not "failed". Slow at scale: call it off the GUI thread."""
        sql = (
            f"SELECT date(started_at, 'unixepoch', 'localtime') AS day, {_SHOWN_STATUS} AS shown, COUNT(*), "  # noqa: S608
            "AVG(llm_ms) FROM runs WHERE started_at >= ?"
            + (" AND thread_id = ?" if thread_id else "")
            + " GROUP BY day, shown"
        )
        params: list[object] = [*REFUSAL_KINDS, since] + ([thread_id] if thread_id else [])
        return [tuple(r) for r in self.db.read(lambda c: c.execute(sql, params).fetchall())]

    def history(
        self, thread_id: str | None = None, limit: int = 50, status: str | None = None, before: float | None = None
    ) -> list[RunRecord]:
        """Newest first; keyset paging by `before` (a started_at) keeps deep pages as cheap as the first."""
        where, params = _filters(thread_id, status)
        if before is not None:
            where.append("started_at < ?")
            params.append(before)
        sql = "SELECT * FROM runs" + _where(where)  # noqa: S608 - fixed fragments, bound values
        sql += " ORDER BY started_at DESC LIMIT ?"
        params.append(limit)
        rows = self.db.read(lambda c: c.execute(sql, params).fetchall())
        return [row_to_run(r) for r in rows]

    def asked(self, thread_id: str | None, limit: int) -> list[RunRecord]:
        """The latest runs that asked a model (ok or failed, a prompt recorded; previews left out), newest
        first: what replay can ask again."""
        where = ["trigger != 'preview'", "status IN ('ok', 'failed')", "prompt IS NOT NULL"]
        params: list[Any] = []
        if thread_id is not None:
            where.append("thread_id = ?")
            params.append(thread_id)
        sql = "SELECT * FROM runs" + _where(where) + " ORDER BY started_at DESC LIMIT ?"  # noqa: S608
        params.append(limit)
        rows = self.db.read(lambda c: c.execute(sql, params).fetchall())
        return [row_to_run(r) for r in rows]

    def state(self, thread_id: str) -> ThreadState | None:
        row = self.db.read(
            lambda c: c.execute("SELECT * FROM thread_state WHERE thread_id = ?", (thread_id,)).fetchone()
        )
        return ThreadState(**dict(row)) if row else None

    def set_next_due(self, thread_id: str, next_due_at: float | None, defer_until: float | None = None) -> None:
        """Persist the scheduler's plan so a restart (and `status`) see the same rhythm."""
        self.db.transaction(
            lambda c: c.execute(
                """INSERT INTO thread_state (thread_id, next_due_at, defer_until)
                   SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM threads WHERE id = ?)
                   ON CONFLICT (thread_id) DO UPDATE SET next_due_at = excluded.next_due_at,
                                                         defer_until = excluded.defer_until""",
                (thread_id, next_due_at, defer_until, thread_id),
            )
        )

    def all_states(self) -> dict[str, ThreadState]:
        rows = self.db.read(lambda c: c.execute("SELECT * FROM thread_state").fetchall())
        return {r["thread_id"]: ThreadState(**dict(r)) for r in rows}

    def prune_details(self, before: float, *, batch: int = 500, max_batches: int = 20) -> int:
        """Drop the prompt, raw reply, reasoning and replay inputs of finished runs started before `before`.

        Those texts are most of a run's size (a prompt is kilobytes; the rest of the row is a few hundred
        bytes), and old ones answer no question History is asked: the decision, outcome, reason, timings and
        tokens stay, and `pruned_at` says when the rest went. Batched (short write transactions, so a
        heartbeat never waits long for the lock) and bounded per call; the caller calls again later.
        """
        now = self.clock()
        total = 0
        for _ in range(max_batches):
            count = self.db.transaction(
                lambda c: (
                    c.execute(
                        """UPDATE runs SET prompt = NULL, raw_reply = NULL, reasoning = NULL, inputs = NULL,
                                       pruned_at = ?
                       WHERE rowid IN (SELECT rowid FROM runs WHERE started_at < ? AND pruned_at IS NULL
                                       AND status != 'started' ORDER BY started_at LIMIT ?)""",
                        (now, before, batch),
                    ).rowcount
                )
            )
            total += count
            if count < batch:
                break
        return total

    def mark_interrupted(self, stale_after_s: float = STALE_RUN_S) -> int:
        """Runs still `started` whose process is gone (or that are hours old) died with it: say so.

        A run in flight in another live process (the tray while the CLI opens the store) is left alone.
        """
        now = self.clock()

        def work(c: sqlite3.Connection) -> int:
            rows = c.execute("SELECT id, pid, started_at FROM runs WHERE status = 'started'").fetchall()
            dead = [
                r["id"]
                for r in rows
                if r["pid"] is None or not pid_alive(r["pid"]) or now - r["started_at"] > stale_after_s
            ]
            for run_id in dead:
                c.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?, "
                    "reason = 'the app stopped before this run finished' WHERE id = ? AND status = 'started'",
                    (now, run_id),
                )
            return len(dead)

        return self.db.transaction(work)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
