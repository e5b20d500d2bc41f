"""What the scheduler worker keeps per thread (`Entry`) and per run in flight (`Job`): plain data, apart from the
worker's logic (qt/services/scheduler_worker.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...core.config import HeartbeatConfig
from ...core.models import Trigger

if TYPE_CHECKING:  # built by the caller's factory on a run's thread, not imported at launch
    from ...core.runner import HeartbeatRunner


@dataclass
class Job:
    thread_id: str
    trigger: Trigger
    dry_run: bool
    token: str = ""
    slot_at: float | None = None  # the slot a scheduled run serves
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
    job: Job | None = None
    queued: list[tuple[bool, str]] = field(default_factory=list)  # at most one queued run-now: (dry_run, token)
