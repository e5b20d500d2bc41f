"""What the scheduler worker keeps per thread (`Entry`) and per run in flight (`Job`), and the parts of its work
that need no Qt: a thread's next task, the status it publishes (qt/services/scheduler_worker.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...core import heartbeat_md
from ...core.config import HeartbeatConfig
from ...core.models import Trigger
from ...core.schedule import DAY_S
from ...core.scheduler_state import ThreadSchedule, current_reason
from ...core.tasks import Due, Task, earliest

if TYPE_CHECKING:  # built by the caller's factory on a run's thread, not imported at launch
    from ...core.runner import HeartbeatRunner
    from ...store import SqliteStore
    from ...store.runs import ThreadState

log = logging.getLogger(__name__)


@dataclass
class Job:
    thread_id: str
    trigger: Trigger
    dry_run: bool
    token: str = ""
    slot_at: float | None = None  # the slot a scheduled run serves
    task: Task | None = None  # a task's run (core/tasks.py): it serves the task's slot, not the thread's
    runner: HeartbeatRunner | None = None
    abandoned: bool = False


@dataclass
class Entry:
    thread_id: str
    title: str
    config: HeartbeatConfig
    paused: bool
    due: float | None = None
    slot: float | None = None  # the planned slot (may have passed: then `due` is now and the run is late)
    last_slot: float | None = None  # the last slot dispatched here: a run the store failed to record
    backing_off: bool = False  # the next time is set by backoff after failed scheduled runs
    note: str | None = None  # what the status line should say about the plan (a clock that was ahead)
    catch_up: bool = False
    defer_until: float | None = None
    snoozed_until: float | None = None  # the user's snooze (a notification's button): `defer_until` while it holds
    job: Job | None = None
    queued: list[tuple[bool, str]] = field(default_factory=list)  # at most one queued run-now: (dry_run, token)
    workspace: Path | None = None  # where its HEARTBEAT.md is (None: the data directory's)
    task_due: Due | None = None  # its next task run (core/tasks.py), planned beside the heartbeats


def plan_tasks(store: SqliteStore, entry: Entry, default_workspace: Path, now: float) -> None:
    """The thread's next task run (core/tasks.py), from its HEARTBEAT.md as it is now — read again on every
    load and after every run of the thread, so an edited task takes effect by the next heartbeat."""
    try:
        tasks = heartbeat_md.tasks_of(entry.workspace or default_workspace)
        anchors = store.tasks.slots(entry.thread_id, [t.key for t in tasks])
        entry.task_due = earliest(tasks, entry.config, anchors, now)
    except Exception as exc:  # a thread's tasks must never stop its heartbeats
        log.warning("Could not plan the tasks of thread %s: %s", entry.thread_id, exc)
        entry.task_due = None


def schedules(
    entries: Iterable[Entry], states: dict[str, ThreadState], schedulable: Callable[[Entry], bool], now: float
) -> tuple[ThreadSchedule, ...]:
    """What the scheduler publishes of each thread, by id; a deferral's reason only while it holds at `now`
    (core.scheduler_state.current_reason: the worker wakes when one ends, to publish that)."""
    threads = []
    for entry in sorted(entries, key=lambda e: e.thread_id):
        st = states.get(entry.thread_id)
        threads.append(
            ThreadSchedule(
                thread_id=entry.thread_id,
                title=entry.title,
                enabled=entry.config.enabled,
                paused=entry.paused,
                next_due=entry.due if schedulable(entry) else None,
                running=entry.job is not None,
                queued=bool(entry.queued),
                last_status=st.last_status if st else None,
                last_reason=current_reason(st.last_status, st.last_reason, entry.defer_until, now) if st else None,
                last_error_kind=st.last_error_kind if st else None,
                last_run_at=st.last_run_at if st else None,
                consecutive_failures=st.consecutive_failures if st else 0,
                config=entry.config,
                backing_off=entry.backing_off and schedulable(entry),
                note=entry.note,
                snoozed_until=snoozed(entry) if schedulable(entry) else None,
            )
        )
    return tuple(threads)


def persist_dues(
    store: SqliteStore,
    entries: Iterable[Entry],
    persisted: dict[str, tuple[float | None, float | None]],
    schedulable: Callable[[Entry], bool],
) -> None:
    """Write the plan of the threads whose plan changed (one small transaction each, usually one); `persisted`
    is what was written last, by thread."""
    for entry in entries:
        due = entry.due if schedulable(entry) else None
        if persisted.get(entry.thread_id) == (due, entry.defer_until):
            continue
        try:
            store.runs.set_next_due(entry.thread_id, due, entry.defer_until)
            persisted[entry.thread_id] = (due, entry.defer_until)
        except Exception as exc:  # persisting the plan is a nicety; never stop scheduling over it
            log.warning("Could not save next due time of %s: %s", entry.thread_id, exc)


def snoozed(entry: Entry) -> float | None:
    """Until when the user snoozed the thread, while that is still what holds its next heartbeat back."""
    until = entry.snoozed_until
    return until if until is not None and until == entry.defer_until else None


def prune_details(store: SqliteStore, now: float) -> None:
    """The retention of run details (`keep_run_details_days`): what keeps the database from growing by a
    prompt per heartbeat for as long as the app runs."""
    try:
        days = store.settings.app().keep_run_details_days
        if days > 0:
            pruned = store.runs.prune_details(now - days * DAY_S)
            if pruned:
                log.info("Removed the prompts and replies of %d runs older than %d days", pruned, days)
    except Exception as exc:  # a nicety like persisting the plan: never stop scheduling over it
        log.warning("Could not prune old run details: %s", exc)


def span(seconds: float) -> str:
    """A duration for a person: "3 days", "5 h", "12 min"."""
    if seconds >= 2 * DAY_S:
        return f"{seconds / DAY_S:.0f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.0f} h"
    return f"{max(1, round(seconds / 60))} min"
