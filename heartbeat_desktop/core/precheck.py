"""Decide, before spending an LLM call, whether a heartbeat should ask the model at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .config import HeartbeatConfig
from .heartbeat_md import Instructions
from .models import Trigger
from .presence import RECHECK_S, PresenceState, away_reason
from .schedule import SCHEDULED_TRIGGERS, busy_until, in_active_hours, zone_of

# A scheduled heartbeat whose context holds nothing — no message, no open note, no feed post — has nothing to
# act on: what it could do then is only noise (the first heartbeat after Set up posted "default_json" citing a
# rule alone, with a notification). The runner checks it after `precheck` (three one-row reads, before any
# context is built). Time-based work is a task's (core/tasks.py), on its own trigger, and not held to this. A
# person's own run (*Run now*, a dry run, Set up's trial, the editor's preview) is asked as before, as it is
# past "nothing new": they asked — and Set up's trial is how a new user learns the model answers at all.
NOTHING_TO_LOOK_AT = "nothing to look at: no messages, notes or feed posts"


def fingerprint(md_hash: str, thread_state: str) -> str:
    """What "nothing new" compares: HEARTBEAT.md's hash and the thread's data (store.thread_fingerprint).
    One formula, used where a run starts and where a successful run is recorded."""
    return f"{md_hash}:{thread_state}"


@dataclass(frozen=True)
class Skip:
    reason: str
    # Set for a deferral: the scheduler tries again at this time instead of after a whole interval.
    defer_until: float | None = None
    # A presence deferral (locked, away, battery, metered): repeated while the user stays away, recorded once.
    away: bool = False


def precheck(
    config: HeartbeatConfig,
    instructions: Instructions,
    *,
    trigger: Trigger,
    now_ts: float,
    paused: bool,
    fingerprint: str,
    last_success_fingerprint: str | None,
    last_active_at: float | None = None,
    presence: PresenceState | None = None,
) -> Skip | None:
    """Return why to skip (or defer), or None to go ahead.

    A person pressing "Run now" has asked explicitly, so disabled/paused/active-hours, busy and the
    "nothing new" rule apply only to scheduled runs. An empty HEARTBEAT.md always skips: there is
    nothing to ask the model, whoever triggered it.
    """
    if trigger == "task":  # its time is the clock's (core/tasks.py): only a thread switched off stops it
        if not config.enabled:
            return Skip("heartbeat disabled for this thread")
        return Skip("thread paused") if paused else None
    scheduled = trigger in SCHEDULED_TRIGGERS
    if scheduled:
        if not config.enabled:
            return Skip("heartbeat disabled for this thread")
        if paused:
            return Skip("thread paused")
        if not in_active_hours(config, now_ts):
            return Skip(
                f"outside active hours ({config.active_hours_start:02d}:00–"
                f"{config.active_hours_end:02d}:00 {config.timezone or 'local time'})"
            )
    if not instructions.is_actionable:
        first = instructions.warnings[0] if instructions.warnings else ""
        detail = f" ({first})" if first and not first.startswith("nothing actionable") else ""
        return Skip(f"HEARTBEAT.md has nothing actionable{detail}")
    if scheduled and presence is not None:
        reason = away_reason(config, presence)
        if reason is not None:
            return Skip(reason, defer_until=now_ts + RECHECK_S, away=True)
    if scheduled:
        until = busy_until(config, last_active_at, now_ts)
        if until is not None:
            ago = max(0, round((now_ts - (last_active_at or now_ts)) / 60))
            at = datetime.fromtimestamp(until, zone_of(config)).strftime("%H:%M")
            return Skip(f"deferred: you wrote in this thread {ago} min ago; trying again at {at}", defer_until=until)
        if not config.always_ask and last_success_fingerprint == fingerprint:
            return Skip("nothing new since the last successful run")
    return None
