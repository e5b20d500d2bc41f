"""Schedule math: examples for each rule, then hypothesis properties over zones, windows and intervals."""

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.schedule import (
    BACKOFF_CAP_S,
    backoff_delay,
    busy_until,
    in_active_hours,
    is_aligned,
    missed,
    next_due,
    slot_tolerance,
    trigger_for,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args: int, tz: ZoneInfo = BERLIN) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def wall(ts: float, tz: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def cfg(**kw) -> HeartbeatConfig:
    return HeartbeatConfig(timezone="Europe/Berlin", **kw)


def test_interval_aligned_to_the_clock() -> None:
    c = cfg(every_seconds=1800)
    assert wall(next_due(c, now=at(2026, 6, 1, 10, 7), last_run_at=None)) == "2026-06-01 10:30"
    # a punctual run a moment after its slot keeps the rhythm
    assert wall(next_due(c, now=at(2026, 6, 1, 10, 0, 1), last_run_at=at(2026, 6, 1, 10, 0, 1))) == "2026-06-01 10:30"
    # a manual run at 10:07 never brings the next one closer than the interval
    assert wall(next_due(c, now=at(2026, 6, 1, 10, 7), last_run_at=at(2026, 6, 1, 10, 7))) == "2026-06-01 11:00"


def test_alignment_gives_way_to_a_window_it_never_meets() -> None:
    daily = cfg(every_seconds=86400, active_hours_start=9, active_hours_end=17)
    assert not is_aligned(daily)
    assert wall(next_due(daily, now=at(2026, 6, 1, 7, 0), last_run_at=None)) == "2026-06-01 09:00"


def test_alignment_off_and_intervals_that_do_not_divide_a_day() -> None:
    last = at(2026, 6, 1, 10, 7)
    assert next_due(cfg(every_seconds=1800, align_to_clock=False), now=last, last_run_at=last) == last + 1800
    assert next_due(cfg(every_seconds=7000), now=last, last_run_at=last) == last + 7000


def test_backoff_doubles_caps_and_resets() -> None:
    c = cfg(every_seconds=600)
    assert [backoff_delay(c, n) for n in range(6)] == [600, 1200, 2400, 4800, 9600, 19200]
    assert backoff_delay(c, 50) == BACKOFF_CAP_S
    assert backoff_delay(cfg(every_seconds=86400), 3) == 86400  # never sooner than the interval itself
    last = at(2026, 6, 1, 10, 0)
    assert next_due(c, now=last, last_run_at=last, consecutive_failures=2) == last + 2400


def test_overnight_window_and_resume_at_the_window_start() -> None:
    night = cfg(active_hours_start=22, active_hours_end=6)
    assert wall(next_due(night, now=at(2026, 6, 1, 10, 7), last_run_at=None)) == "2026-06-01 22:00"
    assert wall(next_due(night, now=at(2026, 6, 1, 5, 50), last_run_at=at(2026, 6, 1, 5, 30))) == "2026-06-01 22:00"
    assert wall(next_due(night, now=at(2026, 6, 1, 23, 10), last_run_at=at(2026, 6, 1, 23, 0))) == "2026-06-01 23:30"
    day = cfg(active_hours_start=9, active_hours_end=17)
    assert wall(next_due(day, now=at(2026, 6, 1, 16, 45), last_run_at=at(2026, 6, 1, 16, 30))) == "2026-06-02 09:00"


def test_a_non_local_timezone() -> None:
    tokyo = HeartbeatConfig(timezone="Asia/Tokyo", active_hours_start=9, active_hours_end=10)
    now = at(2026, 6, 1, 12, 0, tz=ZoneInfo("UTC"))  # 21:00 in Tokyo
    assert wall(next_due(tokyo, now=now, last_run_at=None), ZoneInfo("Asia/Tokyo")) == "2026-06-02 09:00"


def test_dst_spring_forward_and_fall_back() -> None:
    c = cfg(every_seconds=3600)
    # 2026-03-29 02:00 does not exist in Berlin: the 01:00 run is followed by 03:00 (one real hour later)
    due = next_due(c, now=at(2026, 3, 29, 1, 0, 5), last_run_at=at(2026, 3, 29, 1, 0, 5))
    assert wall(due) == "2026-03-29 03:00" and due - at(2026, 3, 29, 1, 0) == 3600
    # a window opening at 02:00 on that day opens at the first real hour after it
    c2 = cfg(active_hours_start=2, active_hours_end=4)
    assert wall(next_due(c2, now=at(2026, 3, 28, 12, 0), last_run_at=None)) == "2026-03-29 03:00"
    # autumn: the day has 25 hours and the window still starts at 09:00 wall time
    c3 = cfg(active_hours_start=9, active_hours_end=10)
    assert wall(next_due(c3, now=at(2026, 10, 24, 12, 0), last_run_at=None)) == "2026-10-25 09:00"


def test_catch_up_and_busy() -> None:
    c = cfg(every_seconds=1800)
    assert missed(c, now=at(2026, 6, 1, 14, 0), last_run_at=at(2026, 6, 1, 10, 0))
    assert not missed(c, now=at(2026, 6, 1, 10, 30, 30), last_run_at=at(2026, 6, 1, 10, 0))
    assert trigger_for(due=at(2026, 6, 1, 10, 30), now=at(2026, 6, 1, 14, 0)) == "catch-up"
    assert trigger_for(due=at(2026, 6, 1, 10, 30), now=at(2026, 6, 1, 10, 30, 1)) == "schedule"
    # after a long sleep there is one due time: now (one catch-up), then the rhythm resumes
    now = at(2026, 6, 1, 14, 0, 10)
    assert next_due(c, now=now, last_run_at=at(2026, 6, 1, 10, 0)) == at(2026, 6, 1, 14, 30)
    assert busy_until(c, at(2026, 6, 1, 10, 0), at(2026, 6, 1, 10, 2)) == at(2026, 6, 1, 10, 5)
    assert busy_until(c, at(2026, 6, 1, 10, 0), at(2026, 6, 1, 10, 6)) is None
    assert busy_until(cfg(busy_minutes=0), at(2026, 6, 1, 10, 0), at(2026, 6, 1, 10, 1)) is None
    deferred = next_due(
        c, now=at(2026, 6, 1, 10, 2), last_run_at=at(2026, 6, 1, 9, 30), defer_until=at(2026, 6, 1, 10, 5)
    )
    assert deferred == at(2026, 6, 1, 10, 5)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]
INTERVALS = [60, 300, 900, 1800, 3600, 7200, 14400, 86400, 61, 1000, 5400, 7000, 50000]
T_MIN, T_MAX = at(2024, 1, 1, 0, 0), at(2030, 12, 31, 0, 0)


@st.composite
def configs(draw) -> HeartbeatConfig:
    hours = draw(st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23))))
    return HeartbeatConfig(
        every_seconds=draw(st.sampled_from(INTERVALS)),
        timezone=draw(st.sampled_from(ZONES)),
        active_hours_start=hours[0] if hours else None,
        active_hours_end=hours[1] if hours else None,
        align_to_clock=draw(st.booleans()),
    )


@settings(max_examples=400, deadline=None)
@given(
    config=configs(),
    now=st.floats(T_MIN, T_MAX),
    since_last=st.one_of(st.none(), st.floats(0, 10 * 86400)),
    failures=st.integers(0, 12),
)
def test_properties(config: HeartbeatConfig, now: float, since_last: float | None, failures: int) -> None:
    last = None if since_last is None else now - since_last
    due = next_due(config, now=now, last_run_at=last, consecutive_failures=failures)
    assert due >= now, "never in the past"
    assert in_active_hours(config, due), "never inside inactive hours"
    if last is not None:
        slack = slot_tolerance(config) if config.align_to_clock else 0.0
        assert due >= last + backoff_delay(config, failures) - slack - 1e-6, "never sooner than the interval"
    if config.active_hours_start is None:
        # without a window the wait is bounded: at most the backoff plus one slot
        assert due <= max(now, (last or now) + backoff_delay(config, failures)) + config.every_seconds + 3600


@settings(max_examples=200, deadline=None)
@given(
    interval=st.sampled_from([i for i in INTERVALS if 86400 % i == 0]),
    zone=st.sampled_from(["UTC", "Asia/Kolkata"]),
    hours=st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23))),
    now=st.floats(T_MIN, T_MAX),
)
def test_aligned_slots_are_fixed_clock_times(interval: int, zone: str, hours, now: float) -> None:
    config = HeartbeatConfig(
        every_seconds=interval,
        timezone=zone,
        active_hours_start=hours and hours[0],
        active_hours_end=hours and hours[1],
    )
    assume(is_aligned(config))
    due = next_due(config, now=now, last_run_at=now)
    local = datetime.fromtimestamp(due, ZoneInfo(zone))
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    assert seconds % interval == 0 and local.microsecond == 0
