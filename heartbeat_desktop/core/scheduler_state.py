"""What the scheduler publishes about itself: plain, immutable data.

The scheduler (qt/services/scheduler.py) owns the timing; everything that shows it — the tray, the fallback window,
the local API, `status` — reads these snapshots instead of the database, and can do so without Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import HeartbeatConfig
from .models import RunStatus
from .refusals import refused, shown_status

SERVER_DOWN = "unreachable"  # a run's error kind the app's health check reports instead (qt/app.py)
DEFERRAL = "deferred: "  # how a deferral's reason starts (core/precheck.py's busy one, core/presence.py's away ones)


def current_reason(
    status: RunStatus | None, reason: str | None, deferred_until: float | None, now: float
) -> str | None:
    """The last run's reason as something true of the thread *now*. A deferral's reason says when it tries
    again ("deferred: you wrote in this thread 1 min ago; trying again at 18:41"); once that time has passed —
    the deferred run ran, or the plan moved past it (active hours ended, the thread was paused) — it is no
    longer so, and the tooltip and `status` showed it at 18:47 beside "next 22:00". `deferred_until` is the
    deferral the plan still holds (the scheduler's, or `thread_state.defer_until`), None when it holds none."""
    deferral = status == "skipped" and reason is not None and reason.startswith(DEFERRAL)
    return None if deferral and (deferred_until is None or deferred_until <= now) else reason


@dataclass(frozen=True)
class ThreadSchedule:
    thread_id: str
    title: str
    enabled: bool
    paused: bool
    next_due: float | None
    running: bool
    queued: bool
    last_status: RunStatus | None
    last_reason: str | None
    last_run_at: float | None
    consecutive_failures: int
    config: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    # `next_due` is set by backoff after failed scheduled runs, not by the thread's interval
    backing_off: bool = False
    # something about the plan the user should know (its last heartbeat was recorded in the future)
    note: str | None = None
    last_error_kind: str | None = None  # a refusal's kind when the last run was refused (core/refusals.py)
    snoozed_until: float | None = None  # the user snoozed its heartbeats until then (a notification's Snooze)

    @property
    def failed(self) -> bool:
        """The last heartbeat failed in a way to fix. A refusal by the app's own rules is not one; nor is a
        server that could not be reached: the health check owns that (the icon is red while the server is
        down and calm once it answers again — after Set up, say — not until the thread's next heartbeat)."""
        if self.last_status != "failed" or refused(self.last_status, self.last_error_kind):
            return False
        return self.last_error_kind != SERVER_DOWN

    @property
    def last_shown(self) -> str | None:
        return shown_status(self.last_status, self.last_error_kind)


@dataclass(frozen=True)
class SchedulerState:
    """What the GUI shows; published by the worker so no widget reads the DB for it."""

    started: bool
    paused: bool
    threads: tuple[ThreadSchedule, ...] = ()

    @property
    def in_flight(self) -> int:
        return sum(t.running for t in self.threads)

    @property
    def next_due(self) -> float | None:
        dues = [t.next_due for t in self.threads if t.next_due is not None]
        return min(dues) if dues else None

    def thread(self, thread_id: str) -> ThreadSchedule | None:
        return next((t for t in self.threads if t.thread_id == thread_id), None)
