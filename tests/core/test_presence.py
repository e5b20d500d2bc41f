"""Presence rules: when a scheduled heartbeat waits for the user, and what a broken source means."""

from __future__ import annotations

import pytest

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.presence import UNKNOWN, CombinedPresence, PresenceState, away_reason
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer, Reply
from tests.support.presence import FakePresence

DEFAULT = HeartbeatConfig()


@pytest.mark.parametrize(
    ("config", "state", "expected"),
    [
        (DEFAULT, UNKNOWN, None),  # nobody says: present (a machine without logind runs as before)
        (DEFAULT, PresenceState(locked=True), "deferred: the screen is locked"),
        (DEFAULT.with_updates(defer_when_locked=False), PresenceState(locked=True), None),
        (DEFAULT, PresenceState(locked=False, idle_s=29 * 60), None),
        (DEFAULT, PresenceState(idle_s=30 * 60), "deferred: you have been away for more than 30 min"),
        (DEFAULT.with_updates(defer_when_idle_minutes=0), PresenceState(idle_s=10**6), None),
        (DEFAULT, PresenceState(on_battery=True, metered=True), None),  # both off by default
        (DEFAULT.with_updates(defer_on_battery=True), PresenceState(on_battery=True), "deferred: running on battery"),
        (
            DEFAULT.with_updates(defer_on_metered=True),
            PresenceState(metered=True),
            "deferred: the network connection is metered",
        ),
    ],
)
def test_away_reason(config: HeartbeatConfig, state: PresenceState, expected: str | None) -> None:
    assert away_reason(config, state) == expected


def test_combined_presence_takes_the_first_answer_and_survives_a_broken_source() -> None:
    class Broken:
        def read(self) -> PresenceState:
            raise OSError("bus went away")

    combined = CombinedPresence(
        [Broken(), FakePresence(PresenceState(idle_s=5.0)), FakePresence(PresenceState(locked=True, idle_s=99.0))]
    )
    assert combined.read() == PresenceState(locked=True, idle_s=5.0)


@pytest.fixture(autouse=True)
def _something_to_look_at(store: SqliteStore) -> None:
    """A scheduled heartbeat with nothing in its context asks no model (NOTHING_TO_LOOK_AT); these are about
    the ones that would."""
    store.threads.add_note("default", "likes tea", "memory")


def _runner(store: SqliteStore, data_dir, ollama: OllamaServer, presence: FakePresence, now: list[float]):
    return HeartbeatRunner(
        store,
        OllamaClient(ollama.url),
        default_workspace=data_dir,
        llm_timeout_s=5,
        presence=presence,
        clock=lambda: now[0],
    )


def test_a_locked_screen_defers_scheduled_runs_once_on_record_and_never_manual_ones(
    store: SqliteStore, data_dir, ollama: OllamaServer
) -> None:
    presence = FakePresence(PresenceState(locked=True))
    now = [1_800_000_000.0]
    runner = _runner(store, data_dir, ollama, presence, now)
    ollama.script(Reply("HEARTBEAT_OK"), Reply("HEARTBEAT_OK"))

    first = runner.run("default", trigger="schedule")
    assert first.status == "skipped" and first.reason == "deferred: the screen is locked"
    assert first.defer_until == now[0] + 120  # looked at again soon, so the user's return is noticed
    now[0] += 120
    again = runner.run("default", trigger="catch-up")
    assert again.status == "skipped" and again.defer_until == now[0] + 120
    # History says it once for the whole stretch away, not once per look
    runs = store.runs.page(None, None, None, 50)
    assert [r.reason for _i, r in runs] == ["deferred: the screen is locked"]
    assert ollama.chat_requests() == []

    reads = presence.reads
    manual = runner.run("default", trigger="manual")  # a person asking is present by definition
    assert manual.status == "ok" and presence.reads == reads  # and the desktop is not even asked
    store.threads.add_message("default", "something new")
    presence.set(locked=False)
    now[0] += 120
    back = runner.run("default", trigger="schedule")
    assert back.status == "ok" and back.defer_until is None
    assert len(ollama.chat_requests()) == 2


def test_a_new_stretch_away_is_recorded_again(store: SqliteStore, data_dir, ollama: OllamaServer) -> None:
    presence = FakePresence(PresenceState(locked=True))
    now = [1_800_000_000.0]
    runner = _runner(store, data_dir, ollama, presence, now)
    ollama.script(Reply("HEARTBEAT_OK"))
    runner.run("default", trigger="schedule")
    presence.set(locked=False)
    now[0] += 60
    assert runner.run("default", trigger="schedule").status == "ok"
    presence.set(locked=True)
    now[0] += 1800
    runner.run("default", trigger="schedule")
    presence.set(locked=False, idle_s=3600.0)
    now[0] += 120
    runner.run("default", trigger="schedule")  # a different reason is a different record
    reasons = [r.reason for _i, r in store.runs.page(None, None, None, 50)]
    assert reasons[0] == "deferred: you have been away for more than 30 min"
    assert reasons[1] == "deferred: the screen is locked"
    assert reasons.count("deferred: the screen is locked") == 2


def test_presence_settings_are_per_thread(store: SqliteStore, data_dir, ollama: OllamaServer) -> None:
    store.threads.set_config("default", HeartbeatConfig(defer_when_locked=False))
    presence = FakePresence(PresenceState(locked=True))
    ollama.script(Reply("HEARTBEAT_OK"))
    run = _runner(store, data_dir, ollama, presence, [1_800_000_000.0]).run("default", trigger="schedule")
    assert run.status == "ok"
