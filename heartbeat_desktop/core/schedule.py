"""Pure time rules for heartbeats: no Qt, no clock reads (`now` is always passed in).

`next_due()` answers "when should this thread's next heartbeat run?" from its config, its last attempt,
its consecutive failures and now. The scheduler sleeps until the earliest answer over all threads, so all
the policy lives here, where property tests can hammer it:

- **interval**: the next run is `every_seconds` after the last attempt (ok, skipped or failed);
- **backoff**: after n consecutive failures the wait is `every_seconds * 2**n`, capped at
  `max(every_seconds, BACKOFF_CAP_S)`; a success resets n (the store keeps the count);
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

DAY_S = 86400
BACKOFF_CAP_S = 6 * 3600
CATCH_UP_GRACE_S = 120.0  # a run this late (or later) is a catch-up, not a punctual one
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


def _hour_active(config: HeartbeatConfig, hour: int) -> bool:
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
    return _hour_active(config, local_time(config, now_ts).hour)


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
    return any(_hour_active(config, (k * config.every_seconds) // 3600) for k in range(DAY_S // config.every_seconds))


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


def next_due(
    config: HeartbeatConfig,
    *,
    now: float,
    last_run_at: float | None,
    consecutive_failures: int = 0,
    defer_until: float | None = None,
) -> float:
    """When the thread's next scheduled heartbeat should run (never before `now`)."""
    zone = zone_of(config)
    if defer_until is not None:
        candidate = max(defer_until, now)
        aligned = False  # a deferral resumes as soon as the user is quiet, not at the next slot
    else:
        aligned = is_aligned(config)
        base = now if last_run_at is None else last_run_at + backoff_delay(config, consecutive_failures)
        if aligned and last_run_at is not None:
            # A scheduled run starts a moment after its slot (timer latency, a busy machine); without this
            # slack that moment would push the next run past its slot and drop one.
            base -= slot_tolerance(config)
        candidate = max(base, now)
    for _ in range(_MAX_STEPS):
        if aligned:
            candidate = _next_aligned(config, candidate, zone)
        if in_active_hours(config, candidate):
            return candidate
        candidate = _next_window_start(config, candidate, zone)
    return candidate  # unreachable in practice: every step moves forward to a real window


def slot_tolerance(config: HeartbeatConfig) -> float:
    """How late a run may start and still count as its slot's run: 2 % of the interval, at most 60 s."""
    return min(60.0, config.every_seconds * 0.02)


def missed(config: HeartbeatConfig, *, now: float, last_run_at: float | None, consecutive_failures: int = 0) -> bool:
    """True when a due time passed while nobody was watching (app closed, machine asleep)."""
    if last_run_at is None:
        return False
    return last_run_at + backoff_delay(config, consecutive_failures) < now - CATCH_UP_GRACE_S


def trigger_for(due: float, now: float) -> str:
    """`catch-up` when a run fires well after its due time (the machine slept), else `schedule`."""
    return "catch-up" if now - due > CATCH_UP_GRACE_S else "schedule"


def busy_until(config: HeartbeatConfig, last_active_at: float | None, now: float) -> float | None:
    """If the user wrote in the thread less than `busy_minutes` ago, when the quiet time ends."""
    if not config.busy_minutes or last_active_at is None:
        return None
    until = last_active_at + config.busy_minutes * 60
    return until if until > now else None
