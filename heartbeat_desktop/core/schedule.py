"""Pure time rules for heartbeats (no Qt, no clock reads: `now` is always passed in)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from .config import HeartbeatConfig


def zone_of(config: HeartbeatConfig) -> tzinfo:
    """The thread's zone: its IANA name, else the machine's local zone."""
    if config.timezone:
        return ZoneInfo(config.timezone)
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def local_time(config: HeartbeatConfig, now_ts: float) -> datetime:
    return datetime.fromtimestamp(now_ts, zone_of(config))


def in_active_hours(config: HeartbeatConfig, now_ts: float) -> bool:
    """Whether `now_ts` is inside the thread's active window.

    start == end means all day; start > end is an overnight window (22→6 covers 22:00–05:59).
    The end hour is exclusive: 9→17 runs from 09:00 up to 16:59.
    """
    start, end = config.active_hours_start, config.active_hours_end
    if start is None or end is None or start == end:
        return True
    hour = local_time(config, now_ts).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end
