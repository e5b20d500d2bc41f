"""Pure time rules for heartbeats: no Qt, no clock reads (`now` is always passed in).

`next_due()` answers "when should this thread's next heartbeat run?" from its config, its last attempt,
its consecutive failures and now. The scheduler sleeps until the earliest answer over all threads, so all
the policy lives here, where property tests can hammer it:

- **slots**: a thread's heartbeats fill a sequence of *slots*; the next one is `every_seconds` after the slot
  the last scheduled run served — not after the moment that run started, so a run that waited its turn
  behind others (one model call at a time) never pushes, or drops, the slot after it. A slot that passed
  while the previous run still went on is run at once, late, and the run records how late;
- **only the schedule moves the schedule**: manual runs, dry-run previews and refusals by the thread's own
  rules never change the slots (`counts_toward_backoff` names what does);
- **backoff**: after n consecutive failed model calls of scheduled runs the wait is `every_seconds * 2**n`,
  capped at `max(every_seconds, BACKOFF_CAP_S)`; a success resets n (the store keeps the count);
- **a clock that was ahead**: a stored last slot in the future (the clock was set back, a backup was restored)
  counts as now, and the caller is told so it can warn — otherwise a thread would sleep until that future;
- **catch-up**: a due time in the past (the machine slept, the app was closed) becomes *now*, once: there
  is only ever one due time per thread, so a long sleep gives one run, never a burst;
- **clock alignment**: an interval that divides a day runs at fixed wall-clock times in the thread's time
  zone (30 min → :00 and :30; 4 h → 00:00, 04:00 …), so restarts and manual runs never shift the rhythm;
- **active hours** in the thread's IANA zone, overnight windows (22→6) and DST included: a due time
  outside the window moves to the window's next start;
- **busy deferral**: a scheduled run that finds the user writing is put off until the quiet time passed.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from .config import HeartbeatConfig
from .models import RunStatus, Trigger
from .refusals import REFUSAL_KINDS

DAY_S = 86400
BACKOFF_CAP_S = 6 * 3600
CATCH_UP_GRACE_S = 120.0  # a run this late (or later) is a catch-up, not a punctual one
SCHEDULED_TRIGGERS: tuple[Trigger, ...] = ("schedule", "catch-up")  # the runs the schedule itself starts
# A model's answer refused by the thread's own rules: the server worked (core/runner.py raises these).
_MAX_STEPS = 1000


def zone_of(config: HeartbeatConfig) -> tzinfo:
    """The thread's zone: its IANA name, else the machine's local zone."""
    if config.timezone:
        return ZoneInfo(config.timezone)
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def local_time(config: HeartbeatConfig, now_ts: float) -> datetime:
    return datetime.fromtimestamp(now_ts, zone_of(config))


def hour_active(config: HeartbeatConfig, hour: int) -> bool:
    start, end = config.active_hours_start, config.active_hours_end
    if start is None or end is None or start == end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def start_of_day(config: HeartbeatConfig, now_ts: float) -> float:
    """Local midnight (in the thread's zone) of the day `now_ts` falls on."""
    local = local_time(config, now_ts)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def in_active_hours(config: HeartbeatConfig, now_ts: float) -> bool:
    """Whether `now_ts` is inside the thread's active window.

    start == end means all day; start > end is an overnight window (22→6 covers 22:00–05:59).
    The end hour is exclusive: 9→17 runs from 09:00 up to 16:59.
    """
    return hour_active(config, local_time(config, now_ts).hour)


def backoff_delay(config: HeartbeatConfig, consecutive_failures: int) -> float:
    """The wait after the last attempt: the interval, doubled per consecutive failure, capped."""
    interval = config.every_seconds
    if consecutive_failures <= 0:
        return float(interval)
    cap = max(interval, BACKOFF_CAP_S)
    return float(min(interval * 2 ** min(consecutive_failures, 32), cap))


def is_aligned(config: HeartbeatConfig) -> bool:
    """Whether the thread runs at fixed clock slots.

    Only for intervals that divide a day, and only if at least one slot falls inside the active window
    (a daily heartbeat at midnight with a 09–17 window would otherwise never run): the window wins.
    """
    if not config.align_to_clock or DAY_S % config.every_seconds:
        return False
    return any(hour_active(config, (k * config.every_seconds) // 3600) for k in range(DAY_S // config.every_seconds))


def _wall_ts(day: date, seconds: int, zone: tzinfo) -> float:
    """Timestamp of a wall-clock time on `day` (fold=0 picks the first of a repeated autumn hour)."""
    naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
    return naive.replace(tzinfo=zone).timestamp()


def _next_aligned(config: HeartbeatConfig, ts: float, zone: tzinfo) -> float:
    """The first wall-clock slot (a multiple of the interval since local midnight) at or after `ts`."""
    interval = config.every_seconds
    local = datetime.fromtimestamp(ts, zone)
    day = local.date()
    # Count slots in wall-clock seconds since midnight (not elapsed seconds: DST days have 23 or 25 hours).
    k = max(0, math.floor((local.hour * 3600 + local.minute * 60 + local.second) / interval) - 1)
    for _ in range(3):  # today, tomorrow, the day after: a slot always exists within that span
        while k * interval < DAY_S:
            slot = _wall_ts(day, k * interval, zone)
            back = datetime.fromtimestamp(slot, zone)
            # The wall time must exist (a slot in a spring-forward gap is skipped, not moved).
            exists = back.date() == day and back.hour * 3600 + back.minute * 60 + back.second == k * interval
            if slot >= ts and exists:
                return slot
            k += 1
        day = day + timedelta(days=1)
        k = 0
    return ts


def _next_window_start(config: HeartbeatConfig, ts: float, zone: tzinfo) -> float:
    """The next moment after `ts` at which the active window opens (its start hour, :00, local time)."""
    assert config.active_hours_start is not None
    day = datetime.fromtimestamp(ts, zone).date()
    for offset in range(3):
        candidate = _wall_ts(day + timedelta(days=offset), config.active_hours_start * 3600, zone)
        if candidate > ts and in_active_hours(config, candidate):
            return candidate
    # A window whose start hour does not exist that day (DST gap): take the next whole hour that is active.
    probe = math.floor(ts / 3600) * 3600 + 3600
    while not in_active_hours(config, probe):
        probe += 3600
    return float(probe)


def _settle(config: HeartbeatConfig, candidate: float, zone: tzinfo, aligned: bool) -> float:
    """The first moment at or after `candidate` that is a slot (if aligned) inside the active window."""
    for _ in range(_MAX_STEPS):
        if aligned:
            candidate = _next_aligned(config, candidate, zone)
        if in_active_hours(config, candidate):
            return candidate
        candidate = _next_window_start(config, candidate, zone)
    return candidate  # unreachable in practice: every step moves forward to a real window


def into_active_hours(config: HeartbeatConfig, ts: float) -> float:
    """`ts` if it is inside the thread's active hours, else the next start of them (a task's time, core/tasks)."""
    return _settle(config, ts, zone_of(config), aligned=False)


def planned_slot(config: HeartbeatConfig, *, last_slot_at: float | None, consecutive_failures: int = 0) -> float | None:
    """The slot after `last_slot_at` (backoff applied), aligned and inside the window — possibly already past.

    None before a thread's first scheduled run. `last_slot_at` may also be an old database's last *start*
    (a moment after its slot): the slack below keeps such an anchor on its own slot.
    """
    if last_slot_at is None:
        return None
    aligned = is_aligned(config)
    base = last_slot_at + backoff_delay(config, consecutive_failures)
    if aligned:
        base -= slot_tolerance(config)
    return _settle(config, base, zone_of(config), aligned)


def next_due(
    config: HeartbeatConfig,
    *,
    now: float,
    last_run_at: float | None,
    consecutive_failures: int = 0,
    defer_until: float | None = None,
) -> float:
    """When the thread's next scheduled heartbeat should run (never before `now`).

    `last_run_at` is the schedule's anchor: the slot the last scheduled run served. A planned slot that
    already passed is due now (run late rather than skipped) when the window is open.
    """
    zone = zone_of(config)
    if defer_until is not None:
        # a deferral resumes as soon as the user is quiet, not at the next slot
        return _settle(config, max(defer_until, now), zone, aligned=False)
    slot = planned_slot(config, last_slot_at=last_run_at, consecutive_failures=consecutive_failures)
    if slot is None:
        return _settle(config, now, zone, is_aligned(config))
    if slot >= now:
        return slot
    if in_active_hours(config, now):
        return now
    return _settle(config, now, zone, is_aligned(config))


def served_slot(config: HeartbeatConfig, *, planned: float | None, due: float, now: float) -> tuple[float, bool]:
    """The slot a scheduled run starting at `now` serves, and whether whole slots were passed over.

    Normally the planned slot (the run is late by `now - slot`). When more than an interval has gone by
    since it (the machine slept, the app was closed, a long deferral), the run serves the latest slot
    that has come — one catch-up run, never a burst — and the ones between are passed over.
    """
    if planned is None:  # a first run: its due time is its slot
        planned = due
    if planned >= now:
        return planned, False
    interval = config.every_seconds
    if is_aligned(config):
        latest = _next_aligned(config, now - interval + 0.001, zone_of(config))
    else:
        latest = planned + math.floor((now - planned) / interval) * interval
    if latest > now or latest <= planned or not in_active_hours(config, latest):
        return planned, False
    return latest, True


FUTURE_SKEW_S = 60.0  # a stored time this far ahead of the clock is a clock problem, not a race


def anchor(last_slot_at: float | None, *, now: float) -> tuple[float | None, float | None]:
    """The schedule's anchor, and how far in the future the stored one lay if it did.

    A last slot after now (the clock was ahead when it ran, or a backup from a later date was restored)
    counts as now: otherwise the next slot would be an interval after that future, and the thread would
    silently run nothing until the clock caught up.
    """
    if last_slot_at is not None and last_slot_at > now + FUTURE_SKEW_S:
        return now, last_slot_at - now
    return last_slot_at, None


def counts_toward_backoff(*, trigger: Trigger, dry_run: bool, status: RunStatus, error_kind: str | None) -> bool:
    """Whether a run's failure should make the schedule back off.

    Backoff is there to leave a failing model server alone, so only a scheduled run whose model call
    failed counts. A manual run is the user's own try; a dry run is a question; a refusal by the thread's
    own rules (not allowed, daily cap, the same post again) says the server works; a cancelled call is
    the app stopping; a database or HEARTBEAT.md problem is not the server's.
    """
    return (
        status == "failed"
        and not dry_run
        and trigger in SCHEDULED_TRIGGERS
        and error_kind is not None
        and error_kind not in (*REFUSAL_KINDS, "cancelled")
    )


def slot_tolerance(config: HeartbeatConfig) -> float:
    """How late a start may be and still name its slot (old databases anchored on starts): 2 % of the
    interval, at most 60 s."""
    return min(60.0, config.every_seconds * 0.02)


def missed(config: HeartbeatConfig, *, now: float, last_run_at: float | None, consecutive_failures: int = 0) -> bool:
    """True when a due time passed while nobody was watching (app closed, machine asleep)."""
    slot = planned_slot(config, last_slot_at=last_run_at, consecutive_failures=consecutive_failures)
    return slot is not None and slot < now - CATCH_UP_GRACE_S


def busy_until(config: HeartbeatConfig, last_active_at: float | None, now: float) -> float | None:
    """If the user wrote in the thread less than `busy_minutes` ago, when the quiet time ends."""
    if not config.busy_minutes or last_active_at is None:
        return None
    until = last_active_at + config.busy_minutes * 60
    return until if until > now else None


def clock_times(every_seconds: int) -> str | None:
    """The fixed clock times an aligned interval runs at, for Settings to show beside "At fixed clock times"
    (#27 item 8: it said "30 min → :00 and :30" whatever the interval): ":00 and :30", ":00, :15, :30 …",
    "00:00, 04:00, 08:00 …". None when the interval does not divide a day (it cannot be aligned then)."""
    if every_seconds <= 0 or DAY_S % every_seconds:
        return None
    slots = range(0, DAY_S, every_seconds)
    if every_seconds % 60:
        times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in slots[:3]]
    elif 3600 % every_seconds == 0:  # within each hour: the minutes are the whole story
        times = [f":{s // 60:02d}" for s in range(0, 3600, every_seconds)][:4]
    else:
        times = [f"{s // 3600:02d}:{s // 60 % 60:02d}" for s in slots[:4]]
    count = 3600 // every_seconds if 3600 % every_seconds == 0 else len(slots)
    if count <= len(times):
        return times[0] if count == 1 else ", ".join(times[:-1]) + " and " + times[-1]
    return ", ".join(times[:3]) + " …"
