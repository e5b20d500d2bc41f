"""Schedule math: examples for each rule, then hypothesis properties over zones, windows and intervals."""

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.schedule import (
    BACKOFF_CAP_S,
    anchor,
    backoff_delay,
    busy_until,
    counts_toward_backoff,
    in_active_hours,
    is_aligned,
    missed,
    next_due,
    planned_slot,
    served_slot,
    slot_tolerance,
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
    # an anchor off the grid (an old database's last start at 10:07) is never followed sooner than the interval
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
    # after a long sleep there is one due time: now (one catch-up), serving the latest slot, not a burst
    now = at(2026, 6, 1, 14, 0, 10)
    assert next_due(c, now=now, last_run_at=at(2026, 6, 1, 10, 0)) == now
    planned = planned_slot(c, last_slot_at=at(2026, 6, 1, 10, 0))
    assert planned == at(2026, 6, 1, 10, 30)
    assert served_slot(c, planned=planned, due=now, now=now) == (at(2026, 6, 1, 14, 0), True)
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


def test_the_next_slot_follows_the_slot_not_the_start() -> None:
    """A run that waited its turn (one model call at a time) starts late; the slot after it stays."""
    c = cfg(every_seconds=1800)
    slot = at(2026, 6, 1, 10, 0)
    late_start = slot + 300  # five minutes late: far past the old 2 % tolerance (36 s)
    assert next_due(c, now=late_start + 20, last_run_at=slot) == at(2026, 6, 1, 10, 30)
    # the same for an interval that does not divide a day: slot + interval, whenever it started
    odd = cfg(every_seconds=7000)
    assert next_due(odd, now=slot + 900, last_run_at=slot) == slot + 7000


def test_a_slot_that_passed_during_the_previous_run_is_run_late_not_skipped() -> None:
    c = cfg(every_seconds=60, align_to_clock=False)
    slot = at(2026, 6, 1, 10, 0)
    now = slot + 75  # the 10:01 slot passed while the 10:00 run still went on
    planned = planned_slot(c, last_slot_at=slot)
    assert planned == slot + 60
    assert next_due(c, now=now, last_run_at=slot) == now  # due at once
    assert served_slot(c, planned=planned, due=now, now=now) == (slot + 60, False)  # it serves 10:01, 15 s late
    # two slots behind (the machine slept): one run, for the latest slot
    assert served_slot(c, planned=planned, due=slot + 200, now=slot + 200) == (slot + 180, True)


def test_a_last_slot_in_the_future_counts_as_now() -> None:
    now = at(2026, 12, 2, 12, 0)
    ahead = now + 30 * 86400  # one run under `faketime +30d`
    assert anchor(ahead, now=now) == (now, 30 * 86400)
    assert anchor(now + 5, now=now) == (now + 5, None)  # a few seconds is a race, not a clock problem
    c = cfg(every_seconds=1800)
    last, _ = anchor(ahead, now=now)
    assert wall(next_due(c, now=now, last_run_at=last)) == "2026-12-02 12:30"


def test_only_scheduled_model_failures_count_toward_backoff() -> None:
    def counts(**kw: object) -> bool:
        base: dict[str, object] = {"trigger": "schedule", "dry_run": False, "status": "failed", "error_kind": "timeout"}
        return counts_toward_backoff(**(base | kw))  # type: ignore[arg-type]

    assert counts()
    assert counts(trigger="catch-up", error_kind="unreachable")
    assert not counts(trigger="manual")
    assert not counts(dry_run=True)
    assert not counts(status="ok")
    assert not counts(error_kind="duplicate") and not counts(error_kind="daily_cap")
    assert not counts(error_kind="not_allowed") and not counts(error_kind="cancelled")
    assert not counts(error_kind=None)  # a database or HEARTBEAT.md problem is not the server's


def test_the_clock_times_of_an_aligned_interval_are_said_as_they_are() -> None:
    """#27 item 8: Settings said "30 min → :00 and :30" whatever the interval."""
    from heartbeat_desktop.core.schedule import clock_times

    assert clock_times(1800) == ":00 and :30"
    assert clock_times(900) == ":00, :15, :30 and :45"
    assert clock_times(300) == ":00, :05, :10 …"
    assert clock_times(3600) == ":00"
    assert clock_times(2400) == "00:00, 00:40, 01:20 …"  # divides a day, not an hour
    assert clock_times(6 * 3600) == "00:00, 06:00, 12:00 and 18:00"
    assert clock_times(43200) == "00:00 and 12:00"
    assert clock_times(86400) == "00:00"
    assert clock_times(90) == "00:00:00, 00:01:30, 00:03:00 …"
    assert clock_times(7 * 60) is None  # does not divide a day: never aligned
