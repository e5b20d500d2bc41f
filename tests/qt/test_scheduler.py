"""The scheduler worker on its QThread, with an injected clock (no test waits for a real interval), a real
SQLite file and the real runner talking to a loopback Ollama-protocol server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer

from heartbeat_desktop.core import heartbeat_md
from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.qt.services.scheduler import HeartbeatScheduler, SchedulerState, enabled_from_env
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD
from tests.support.citing import Act
from tests.support.ollama_server import Error, Hang, OllamaServer, Reply, Respond

POST = json.dumps({"action": "post", "title": "Hello", "content": "World", "reason": "r"})


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def set(self, t: float) -> None:
        with self._lock:
            self.t = t


class Harness:
    def __init__(self, qtbot, data_dir: Path, ollama: OllamaServer, clock: FakeClock, **kw) -> None:
        self.qtbot = qtbot
        self.data_dir = data_dir
        self.clock = clock
        self.db = data_dir / "heartbeat.db"
        self.finished: list[RunRecord] = []
        self.started: list[tuple[str, str]] = []
        self.states: list[SchedulerState] = []
        timeout = kw.pop("timeout", 10)

        def make_runner(store: SqliteStore) -> HeartbeatRunner:
            return HeartbeatRunner(
                store,
                OllamaClient(ollama.url),
                default_workspace=data_dir,
                llm_timeout_s=timeout,
                clock=clock,
            )

        self.scheduler = HeartbeatScheduler(self.db, make_runner, clock=clock, **kw)
        self.scheduler.run_started.connect(lambda t, trig: self.started.append((t, trig)))
        self.scheduler.state_changed.connect(self.states.append)
        self.scheduler.register_callback(self.finished.append)

    def start(self) -> None:
        with self.qtbot.waitSignal(self.scheduler.state_changed, timeout=5000):
            self.scheduler.start()

    def jump(self, t: float) -> None:
        self.clock.set(t)
        self.scheduler.clock_jumped()

    def wait_finished(self, n: int, timeout: int = 10000) -> None:
        self.qtbot.waitUntil(lambda: len(self.finished) >= n, timeout=timeout)

    def due(self, thread_id: str) -> float | None:
        return {t.thread_id: t.next_due for t in self.scheduler.state.threads}[thread_id]

    def settle(self, ms: int = 300) -> None:
        self.qtbot.wait(ms)


@pytest.fixture
def setup(data_dir: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(data_dir / "heartbeat.db")
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    store.threads.set_config("default", HeartbeatConfig(timezone="UTC", always_ask=True))
    # Something in every thread's context: a scheduled heartbeat with nothing to look at asks no model
    # (core/precheck.py, NOTHING_TO_LOOK_AT), and these tests are about the ones that do.
    store.db.transaction(
        lambda c: store.feed.write_action(c, {"action": "post", "title": "Welcome", "content": "x"}, "default", None, 0)
    )
    yield store
    store.close()


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        h.scheduler.stop()


@pytest.fixture
def make(qtbot, data_dir, ollama, harnesses):
    def factory(clock: FakeClock, **kw) -> Harness:
        h = Harness(qtbot, data_dir, ollama, clock, **kw)
        harnesses.append(h)
        return h

    return factory


def test_due_runs_fire_in_order(make, setup: SqliteStore, ollama: OllamaServer, caplog) -> None:
    caplog.set_level(logging.INFO, logger="heartbeat_desktop")
    setup.threads.create("fast")
    setup.threads.set_config("fast", HeartbeatConfig(every_seconds=600, timezone="UTC", always_ask=True))
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)))
    h.start()
    assert h.due("fast") == utc(2026, 6, 1, 10, 10) and h.due("default") == utc(2026, 6, 1, 10, 30)
    assert h.started == []  # nothing is due yet, nothing ran
    h.jump(utc(2026, 6, 1, 10, 10, 1))
    h.wait_finished(1)
    h.jump(utc(2026, 6, 1, 10, 20, 1))
    h.wait_finished(2)
    h.jump(utc(2026, 6, 1, 10, 30, 1))
    h.wait_finished(4)
    assert h.started[:2] == [("fast", "schedule"), ("fast", "schedule")]
    assert sorted(h.started[2:]) == [("default", "schedule"), ("fast", "schedule")]
    assert all(r.status == "ok" for r in h.finished)
    assert len(ollama.chat_requests()) == 4
    assert h.due("fast") == utc(2026, 6, 1, 10, 40) and h.due("default") == utc(2026, 6, 1, 11, 0)
    messages = [r.getMessage() for r in caplog.records]
    assert "Scheduler started" in messages and "Starting heartbeat for thread fast (schedule)" in messages


def test_inactive_hours_wait_for_the_window_then_run(make, setup: SqliteStore) -> None:
    setup.threads.set_config("default", HeartbeatConfig(timezone="UTC", active_hours_start=9, active_hours_end=17))
    h = make(FakeClock(utc(2026, 6, 1, 17, 5)))
    h.start()
    assert h.due("default") == utc(2026, 6, 2, 9, 0)
    h.jump(utc(2026, 6, 2, 8, 59))
    h.settle()
    assert h.started == []
    h.jump(utc(2026, 6, 2, 9, 0, 1))
    h.wait_finished(1)
    assert h.finished[0].status == "ok"


def test_overnight_window_in_a_non_local_zone(make, setup: SqliteStore) -> None:
    setup.threads.set_config(
        "default", HeartbeatConfig(timezone="Asia/Tokyo", active_hours_start=22, active_hours_end=6)
    )
    h = make(FakeClock(utc(2026, 6, 1, 3, 0)))  # 12:00 in Tokyo
    h.start()
    assert h.due("default") == utc(2026, 6, 1, 13, 0)  # 22:00 in Tokyo


def test_run_now_during_a_run_is_queued_once_not_doubled(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    ollama.default = Reply('{"action": "none", "reason": "slow"}', delay_s=0.8)
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)))
    h.start()
    for _ in range(4):
        h.scheduler.run_heartbeat_now("default")
    h.wait_finished(2)
    h.settle(1500)
    assert len(h.finished) == 2 and len(ollama.chat_requests()) == 2
    assert [t for _, t in h.started] == ["manual", "manual"]
    # the two runs never overlapped
    first, second = sorted(h.finished, key=lambda r: r.started_at)
    assert setup.runs.get(first.id).status == "ok" and setup.runs.get(second.id).status == "ok"
    requests = ollama.chat_requests()
    assert len(requests) == 2


def test_backoff_after_failures_then_reset(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    setup.threads.set_config("default", HeartbeatConfig(every_seconds=600, timezone="UTC", always_ask=True))
    ollama.script(Error(500, "boom"), Error(500, "boom"))
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)))
    h.start()
    h.jump(utc(2026, 6, 1, 10, 10, 1))
    h.wait_finished(1)
    assert h.finished[0].status == "failed"
    assert h.due("default") == utc(2026, 6, 1, 10, 30)  # 2 × 600 s after the failure, on a slot
    h.jump(utc(2026, 6, 1, 10, 30, 1))
    h.wait_finished(2)
    assert h.due("default") == utc(2026, 6, 1, 11, 10)  # 4 × 600 s
    h.jump(utc(2026, 6, 1, 11, 10, 1))
    h.wait_finished(3)
    assert h.finished[2].status == "ok"
    assert h.due("default") == utc(2026, 6, 1, 11, 20)  # back to the plain interval
    assert setup.runs.state("default").consecutive_failures == 0


def test_restart_keeps_the_rhythm(make, setup: SqliteStore, data_dir: Path) -> None:
    clock = FakeClock(utc(2026, 6, 1, 10, 0, 5))
    h = make(clock, max_parallel=1)
    h.start()
    h.jump(utc(2026, 6, 1, 10, 30, 2))
    h.wait_finished(1)
    due = h.due("default")
    assert due == utc(2026, 6, 1, 11, 0)
    h.scheduler.stop()
    assert setup.runs.state("default").next_due_at == due
    clock.set(utc(2026, 6, 1, 10, 41))  # restarted eleven minutes later
    h2 = make(clock)
    h2.start()
    assert h2.due("default") == due
    assert h2.started == []


def test_sleep_gives_one_catch_up_per_thread(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    for name in ("a", "b"):
        setup.threads.create(name)
        setup.threads.set_config(name, HeartbeatConfig(every_seconds=900, timezone="UTC", always_ask=True))
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)), max_parallel=3)
    h.start()
    h.jump(utc(2026, 6, 1, 10, 30, 1))
    h.wait_finished(3)
    assert sorted(t for t, _ in h.started) == ["a", "b", "default"]
    h.started.clear()
    h.jump(utc(2026, 6, 1, 15, 12))  # the lid was closed for almost five hours
    h.wait_finished(6)
    h.settle(800)
    assert sorted(h.started) == [("a", "catch-up"), ("b", "catch-up"), ("default", "catch-up")]
    assert len(h.finished) == 6
    # the catch-up served the latest slot (15:00); the rhythm resumes on the slots after it
    assert h.due("a") == utc(2026, 6, 1, 15, 15) and h.due("default") == utc(2026, 6, 1, 15, 30)


def test_paused_by_environment(make, setup: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not enabled_from_env({"CRT_HEARTBEAT_ENABLED": "false"})
    assert not enabled_from_env({"HEARTBEAT_ENABLED": "0"})
    assert enabled_from_env({})
    monkeypatch.setenv("HEARTBEAT_ENABLED", "0")
    h = make(FakeClock(utc(2026, 6, 1, 10, 29, 59)))
    h.start()
    assert h.scheduler.state.paused and h.due("default") is None
    h.jump(utc(2026, 6, 1, 11, 0, 1))
    h.settle()
    assert h.started == []
    h.scheduler.run_heartbeat_now("default")  # a person may still run one by hand
    h.wait_finished(1)
    with h.qtbot.waitSignal(h.scheduler.state_changed):
        h.scheduler.resume()
    assert h.due("default") == utc(2026, 6, 1, 11, 30)  # an interval after the manual run
    h.jump(utc(2026, 6, 1, 11, 30, 1))
    h.wait_finished(2)
    assert [t for _, t in h.started] == ["manual", "schedule"]


def test_pause_one_thread(make, setup: SqliteStore) -> None:
    setup.threads.create("other")
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)))
    h.start()
    with h.qtbot.waitSignal(h.scheduler.state_changed):
        h.scheduler.pause_thread("default")
    assert h.due("default") is None and h.due("other") is not None
    assert setup.threads.get("default").paused


def test_config_change_rearms(make, setup: SqliteStore) -> None:
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)))
    h.start()
    assert h.due("default") == utc(2026, 6, 1, 10, 30)
    setup.threads.set_config("default", HeartbeatConfig(every_seconds=300, timezone="UTC"))
    with h.qtbot.waitSignal(h.scheduler.state_changed):
        h.scheduler.reload()
    assert h.due("default") == utc(2026, 6, 1, 10, 5)


def test_stop_returns_within_two_seconds_while_the_llm_hangs(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    ollama.default = Hang(60)
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)), timeout=60)
    h.start()
    h.scheduler.run_heartbeat_now("default")
    h.qtbot.waitUntil(lambda: len(ollama.chat_requests()) == 1, timeout=5000)
    t0 = time.monotonic()
    h.scheduler.stop()
    assert time.monotonic() - t0 < 2.0
    assert not h.scheduler.is_running


def test_gui_thread_keeps_turning_while_runs_wait_on_a_slow_server(
    make, setup: SqliteStore, ollama: OllamaServer, qtbot
) -> None:
    for i in range(4):
        setup.threads.create(f"t{i}")
    ollama.default = Reply('{"action": "none", "reason": "slow"}', delay_s=1.5)
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)), max_parallel=5)
    h.start()
    gaps: list[float] = []
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    for thread_id in ["default", "t0", "t1", "t2", "t3"]:
        h.scheduler.run_heartbeat_now(thread_id)
    h.wait_finished(5)
    timer.stop()
    assert len(ollama.chat_requests()) == 5
    assert len(gaps) > 100
    assert max(gaps) < 0.25, f"GUI thread stalled for {max(gaps) * 1000:.0f} ms"


def test_the_real_wake_timer_starts_a_due_run(qtbot, data_dir: Path, ollama: OllamaServer, setup: SqliteStore) -> None:
    """No injected clock: the platform's wake timer (a timerfd on Linux) must fire the run that falls due
    two seconds after start. A scheduler that never arms its timer, or whose timer is not connected, ran
    nothing here while every other test stayed green."""
    setup.threads.set_config(
        "default", HeartbeatConfig(every_seconds=60, align_to_clock=False, timezone="UTC", always_ask=True)
    )
    now = time.time()
    setup.db.transaction(
        lambda c: c.execute(
            "INSERT INTO thread_state (thread_id, last_run_at, last_slot_at, last_status) "
            "VALUES ('default', ?, ?, 'ok')",
            (now - 58, now - 58),
        )
    )

    def make_runner(store: SqliteStore) -> HeartbeatRunner:
        return HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=10)

    scheduler = HeartbeatScheduler(data_dir / "heartbeat.db", make_runner)
    started: list[tuple[str, str, float]] = []
    scheduler.run_started.connect(lambda thread, trigger: started.append((thread, trigger, time.time())))
    try:
        scheduler.start()
        qtbot.waitUntil(lambda: bool(started), timeout=8000)
        thread, trigger, at = started[0]
        assert (thread, trigger) == ("default", "schedule")
        assert now + 1.5 <= at <= now + 4.0, at - now  # on time: neither at start nor late
        qtbot.waitUntil(lambda: len(ollama.chat_requests()) == 1, timeout=5000)
    finally:
        scheduler.stop()


def test_dry_runs_leave_the_schedule_alone(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    """Two failed dry runs gave consecutive_failures 2, pushed the next run hours out and turned the icon
    red. A dry run is recorded (History shows it) and changes nothing of the schedule."""
    setup.threads.set_config("default", HeartbeatConfig(every_seconds=3600, timezone="UTC", always_ask=True))
    h = make(FakeClock(utc(2026, 5, 4, 10, 0)))
    h.start()
    h.wait_finished(1)  # the first scheduled heartbeat (nothing ran before): ok
    h.settle()
    due = h.due("default")
    before = h.scheduler.state.thread("default")
    assert before.last_status == "ok"
    ollama.script(Error(500, "boom"), Error(500, "boom"))
    for n in (2, 3):
        h.scheduler.run_heartbeat_now("default", dry_run=True)
        h.wait_finished(n)
    dry = h.finished[1:]
    assert [r.status for r in dry] == ["failed", "failed"] and all(r.dry_run for r in dry)
    h.settle()
    after = h.scheduler.state.thread("default")
    assert h.due("default") == due
    assert (after.consecutive_failures, after.last_status) == (before.consecutive_failures, before.last_status)
    state = setup.runs.state("default")
    assert state.consecutive_failures == 0 and state.last_status == "ok"
    assert [r.dry_run for r in setup.runs.history("default")] == [True, True, False]  # still in History


def test_a_thread_paused_by_the_breaker_is_no_longer_scheduled(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    setup.threads.set_config(
        "default",
        # without the nothing-new rule, so the repeat is refused as a duplicate (which counts toward the pause)
        HeartbeatConfig(
            every_seconds=3600, timezone="UTC", always_ask=True, pause_after_same_answer=2, require_new_evidence=False
        ),
    )
    ollama.default = Act(POST)
    h = make(FakeClock(utc(2026, 5, 4, 10, 0)))
    h.start()
    h.wait_finished(1)  # the scheduled one posts
    for n in (2, 3):
        h.scheduler.run_heartbeat_now("default")  # the same post again: refused, twice
        h.wait_finished(n)
    assert h.finished[-1].paused_thread
    h.qtbot.waitUntil(lambda: h.scheduler.state.thread("default").paused, timeout=3000)
    assert h.due("default") is None or not h.scheduler.state.thread("default").next_due


def test_runs_that_waited_their_turn_keep_their_slot_and_the_next(
    make, setup: SqliteStore, ollama: OllamaServer
) -> None:
    """#22: with one model call at a time, a run that starts late used to push its next slot away (the next
    due came from its start); 200 threads at 60 s ran 664 heartbeats in 5 minutes instead of ~1000."""
    for name in ("a", "b"):
        setup.threads.create(name)
    for name in ("a", "b", "default"):
        setup.threads.set_config(name, HeartbeatConfig(every_seconds=900, timezone="UTC", always_ask=True))
    clock = FakeClock(utc(2026, 6, 1, 10, 0, 5))

    def slow_answer(_body: object) -> Reply:
        clock.set(clock() + 300)  # each answer takes five minutes
        return Reply('{"action": "none", "reason": "nothing needs attention"}')

    ollama.default = Respond(slow_answer)
    h = make(clock, max_parallel=1)
    h.start()
    h.jump(utc(2026, 6, 1, 10, 15))
    h.wait_finished(3)
    runs = [setup.runs.get(r.id) for r in h.finished]
    assert [r.slot_at for r in runs] == [utc(2026, 6, 1, 10, 15)] * 3
    assert sorted(round(r.started_at - r.slot_at) for r in runs) == [0, 300, 600]  # recorded: how late
    assert {t for _, t in h.started} == {"schedule"}
    # the last of them started at 10:25, ten minutes late: its next slot is still 10:30, not 10:45
    h.qtbot.waitUntil(lambda: all(h.due(t) == utc(2026, 6, 1, 10, 30) for t in ("a", "b", "default")) or h.started[3:])
    assert len(h.finished) == 3 or h.finished[3].slot_at == utc(2026, 6, 1, 10, 30)
    for name in ("a", "b", "default"):
        assert setup.runs.state(name).last_slot_at == utc(2026, 6, 1, 10, 15)


def test_a_slot_that_passed_during_the_previous_run_runs_at_once(
    make, setup: SqliteStore, ollama: OllamaServer
) -> None:
    setup.threads.set_config("default", HeartbeatConfig(every_seconds=600, timezone="UTC", always_ask=True))
    clock = FakeClock(utc(2026, 6, 1, 10, 0, 5))

    def slow_answer(_body: object) -> Reply:
        clock.set(max(clock(), utc(2026, 6, 1, 10, 20, 30)))  # the model takes ten and a half minutes
        return Reply('{"action": "none", "reason": "nothing needs attention"}')

    ollama.default = Respond(slow_answer)
    h = make(clock)
    h.start()
    h.jump(utc(2026, 6, 1, 10, 10))
    h.wait_finished(2)  # the 10:10 run ended at 10:20:30: the 10:20 slot runs at once, late, not skipped
    slots = [setup.runs.get(r.id).slot_at for r in h.finished]
    assert slots == [utc(2026, 6, 1, 10, 10), utc(2026, 6, 1, 10, 20)]
    h.settle()
    assert len(h.finished) == 2 and h.due("default") == utc(2026, 6, 1, 10, 30)


def test_manual_and_refused_runs_never_move_the_schedule(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    """#22: two failed or refused manual runs put a 30-minute thread's next heartbeat 6 h away."""
    setup.threads.set_config("default", HeartbeatConfig(every_seconds=1800, timezone="UTC", always_ask=True))
    ollama.script(Error(500, "boom"), Error(500, "boom"))
    h = make(FakeClock(utc(2026, 6, 1, 10, 7)))
    h.start()
    assert h.due("default") == utc(2026, 6, 1, 10, 30)
    for n in (1, 2):
        h.scheduler.run_heartbeat_now("default")
        h.wait_finished(n)
    assert [r.status for r in h.finished] == ["failed", "failed"]
    assert setup.runs.state("default").consecutive_failures == 0
    h.settle()
    assert h.due("default") == utc(2026, 6, 1, 10, 30)
    assert not h.scheduler.state.thread("default").backing_off
    # a scheduled failure of the model call does back off, and the published state says that is why
    ollama.script(Error(500, "boom"))
    h.jump(utc(2026, 6, 1, 10, 30, 1))
    h.wait_finished(3)
    h.qtbot.waitUntil(lambda: h.due("default") == utc(2026, 6, 1, 11, 30), timeout=3000)
    assert h.scheduler.state.thread("default").backing_off
    from heartbeat_desktop.qt.tray import tooltip

    assert "backing off after 1 failed heartbeat" in tooltip(h.scheduler.state, None)


def test_a_last_run_in_the_future_counts_as_now(make, setup: SqliteStore, caplog) -> None:
    """#22: after one run under `faketime +30d` the real clock's app showed `next 2027-01-01` and ran nothing."""
    now = utc(2026, 12, 2, 10, 7)
    ahead = now + 30 * 86400
    setup.db.transaction(
        lambda c: c.execute(
            "INSERT INTO thread_state (thread_id, last_run_at, last_slot_at, last_status, consecutive_failures) "
            "VALUES ('default', ?, ?, 'ok', 0)",
            (ahead, ahead),
        )
    )
    with caplog.at_level(logging.WARNING):
        h = make(FakeClock(now))
        h.start()
    assert h.due("default") == utc(2026, 12, 2, 11, 0)  # an interval after now, on a slot
    note = h.scheduler.state.thread("default").note
    assert note and "in the future" in note and "30 days" in note
    assert any("in the future" in r.getMessage() for r in caplog.records)


def test_the_scheduler_applies_the_retention_after_a_run(make, setup: SqliteStore, ollama: OllamaServer) -> None:
    now = utc(2026, 6, 1, 10, 0, 5)
    setup.settings.set("keep_run_details_days", "7")
    old = RunRecord(id="old", thread_id="default", trigger="schedule", dry_run=False, started_at=now - 8 * 86400)
    setup.insert_run(old)
    old.status, old.prompt, old.raw_reply, old.finished_at = "ok", "a prompt", "a reply", old.started_at + 1
    setup.finish_run(old)
    h = make(FakeClock(now))
    h.start()
    h.jump(utc(2026, 6, 1, 10, 30))
    h.wait_finished(1)  # the first heartbeat, then the retention
    h.qtbot.waitUntil(lambda: setup.runs.get("old").pruned_at is not None, timeout=3000)
    assert setup.runs.get("old").prompt is None
    assert setup.runs.get(h.finished[0].id).prompt  # this week's run keeps its prompt


# --------------------------------------------------------------------------- tasks on a clock (#26 item 4)
# A task runs at its time in the thread's zone, once, beside the heartbeats and without moving them; a restart
# neither repeats nor skips it; time the app was away from gives one catch-up run.
TASKS = GOOD_MD + '\n## Tasks\n- daily 10:15: post a "Daily note" of the open questions\n'


def _reply(body: dict[str, Any]) -> Reply:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if "A scheduled task from HEARTBEAT.md is due now" in user:
        return Reply(
            json.dumps({"action": "post", "title": "Daily note", "content": "Nothing open.", "reason": "task"})
        )
    return Reply('{"action": "none", "reason": "quiet"}')


def test_a_task_runs_at_its_time_once_and_leaves_the_heartbeats_alone(
    make,
    setup: SqliteStore,
    ollama: OllamaServer,
    data_dir: Path,
) -> None:
    (data_dir / "HEARTBEAT.md").write_text(TASKS, encoding="utf-8")
    ollama.default = Respond(_reply)
    clock = FakeClock(utc(2026, 6, 1, 10, 0, 5))
    h = make(clock, max_parallel=1)
    h.start()
    assert h.due("default") == utc(2026, 6, 1, 10, 30)
    h.jump(utc(2026, 6, 1, 10, 15, 1))
    h.wait_finished(1)
    [task_run] = h.finished
    assert h.started == [("default", "task")] and task_run.status == "ok", task_run.reason
    assert task_run.slot_at == utc(2026, 6, 1, 10, 15) and task_run.inputs["task"]["when"] == "daily 10:15"
    body = ollama.chat_requests()[-1].body
    assert [b["properties"]["action"]["const"] for b in body["format"]["anyOf"]] == ["none", "post"]
    assert "rule" not in body["format"]["anyOf"][1]["properties"]  # the task calls for it, not an item
    system = body["messages"][0]["content"]
    assert "## Tasks" not in system and "Daily note" not in system  # a heartbeat never reads the tasks
    # the task, not the thread, keeps comment and vote from it: the model is told that, not a false limit
    assert "comment (not available for a scheduled task)" in system and "not allowed for this thread" not in system
    assert [p.title for p in setup.feed.posts()] == ["Daily note", "Welcome"]  # newest first
    # History and the command line say which task a run was for
    from heartbeat_desktop.core.present import describe_run, run_record
    from heartbeat_desktop.qt.windows.history_window import run_details

    stored = setup.runs.get(task_run.id)
    said = f"daily 10:15: {stored.inputs['task']['what']}"
    assert f"Task: {said}" in run_details(stored) and f"(task “{said}”)" in describe_run(stored)
    assert run_record(stored)["task"] == said  # history --json says it too
    assert h.due("default") == utc(2026, 6, 1, 10, 30)  # the heartbeat's slot did not move
    h.jump(utc(2026, 6, 1, 10, 30, 1))
    h.wait_finished(2)
    assert h.started[1] == ("default", "schedule")
    heartbeat = ollama.chat_requests()[-1].body["messages"][1]["content"]
    assert "scheduled task" not in heartbeat
    h.scheduler.stop()

    clock.set(utc(2026, 6, 1, 10, 40))  # restarted: the task already ran today
    h2 = make(clock, max_parallel=1)
    h2.start()
    h2.settle(500)
    assert h2.started == []
    h2.jump(utc(2026, 6, 3, 9, 0))  # away for two days: one catch-up for the task, serving the latest slot
    h2.wait_finished(2)
    h2.settle(800)
    assert sorted(h2.started) == [("default", "catch-up"), ("default", "task")]
    caught = next(r for r in h2.finished if r.trigger == "task")
    assert caught.slot_at == utc(2026, 6, 2, 10, 15)
    [task] = heartbeat_md.parse(TASKS).tasks
    assert setup.tasks.slots("default", [task.key]) == {task.key: utc(2026, 6, 2, 10, 15)}  # kept for the restart


def test_a_new_task_first_runs_at_its_next_time_not_at_once(
    make,
    setup: SqliteStore,
    ollama: OllamaServer,
    data_dir: Path,
) -> None:
    """Adding "daily 10:15" at 11:00 must not post at once for a 10:15 the user never asked about."""
    ollama.default = Respond(_reply)
    clock = FakeClock(utc(2026, 6, 1, 11, 0, 5))
    h = make(clock, max_parallel=1)
    h.start()
    (data_dir / "HEARTBEAT.md").write_text(TASKS, encoding="utf-8")
    h.scheduler.reload()  # what a saved editor, a config change or the next heartbeat does
    h.settle(500)
    assert h.started == []
    h.jump(utc(2026, 6, 2, 10, 15, 1))
    h.wait_finished(1)
    assert ("default", "task") in h.started


def test_a_paused_thread_runs_no_task(
    make,
    setup: SqliteStore,
    ollama: OllamaServer,
    data_dir: Path,
) -> None:
    (data_dir / "HEARTBEAT.md").write_text(TASKS, encoding="utf-8")
    ollama.default = Respond(_reply)
    setup.threads.set_paused("default", True)
    h = make(FakeClock(utc(2026, 6, 1, 10, 0, 5)), max_parallel=1)
    h.start()
    h.jump(utc(2026, 6, 1, 10, 15, 1))
    h.settle(500)
    assert h.started == []


def test_a_deferral_note_ends_with_its_time(make, setup: SqliteStore) -> None:
    """Rough edges #2: `status` and the tooltip said at 18:47 "deferred: you wrote in this thread 1 min ago;
    trying again at 18:41" — the deferral's reason outlived its time once the plan moved past it. It is shown
    while the deferral holds and no longer once its time has passed (the scheduler's simulated clock)."""
    from heartbeat_desktop.core.present import thread_status
    from heartbeat_desktop.qt.tray import tooltip

    setup.threads.set_config("default", HeartbeatConfig(timezone="UTC", always_ask=True, every_seconds=60))
    setup.threads.add_message("default", "Back in a minute")  # written now: busy for busy_minutes (5)
    start = time.time()
    h = make(FakeClock(start))
    h.start()
    h.jump(h.due("default"))
    h.wait_finished(1)
    deferred = h.finished[0]
    assert deferred.status == "skipped" and deferred.defer_until is not None, deferred.reason
    h.qtbot.waitUntil(lambda: (h.scheduler.state.threads[0].last_reason or "").startswith("deferred: you wrote"))
    with h.qtbot.waitSignal(h.scheduler.state_changed):
        h.scheduler.pause_thread("default")  # the plan moves past the deferral: its run never comes
    assert h.scheduler.state.threads[0].last_reason == deferred.reason  # the deferral still holds: still true
    h.jump(deferred.defer_until + 60)
    h.qtbot.waitUntil(lambda: h.scheduler.state.threads[0].last_reason is None)
    t = h.scheduler.state.threads[0]
    assert t.last_status == "skipped" and thread_status(t)["last_reason"] is None
    assert "deferred" not in tooltip(h.scheduler.state, None)
