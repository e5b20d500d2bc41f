"""The desktop's presence sources over real D-Bus: a private bus daemon stands in for the system bus, with
stand-in logind/UPower/NetworkManager services on it (their real names, paths and interfaces), and the real
dunst on a private session bus says whether Do Not Disturb is on.

The app's own code (presence/dbus.py) talks to them over the wire; nothing in between is faked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.core.presence import UNKNOWN, PresenceState
from heartbeat_desktop.presence import dbus as presence_dbus
from heartbeat_desktop.presence import heartbeat_presence
from tests.conftest import REPO
from tests.support.dunst import Dunst, running_dunst
from tests.support.xserver import require_tools, start_bus, stop


@pytest.fixture
def system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private bus used as the system bus, with the stand-in services on it; yields their state file."""
    require_tools(["dbus-daemon"])
    procs: list[subprocess.Popen] = []
    state = tmp_path / "state.json"
    state.write_text("{}", encoding="utf-8")
    try:
        address = start_bus(procs)
        services = subprocess.Popen(
            [sys.executable, "-m", "tests.support.system_services", str(state)],
            cwd=REPO,
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": address},
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(services)
        assert services.stdout.readline().strip() == "ready"
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield state
    finally:
        stop(procs)


def _set(state: Path, **values: object) -> None:
    state.write_text(json.dumps(values), encoding="utf-8")


def test_logind_locked_and_idle(system_bus: Path) -> None:
    source = presence_dbus.LogindSession(clock=lambda: 2_000_000_000.0)
    assert source.read() == PresenceState(locked=False, idle_s=0.0)
    _set(system_bus, locked=True, idle=True, idle_since_us=(2_000_000_000 - 1800) * 1_000_000)
    assert source.read() == PresenceState(locked=True, idle_s=1800.0)


def test_upower_and_networkmanager(system_bus: Path) -> None:
    assert presence_dbus.UPowerBattery().read() == PresenceState(on_battery=False)
    assert presence_dbus.NetworkManagerMetered().read() == PresenceState(metered=False)  # guess-no
    _set(system_bus, on_battery=True, metered=3)  # guess-yes: a phone's hotspot
    assert presence_dbus.UPowerBattery().read() == PresenceState(on_battery=True)
    assert presence_dbus.NetworkManagerMetered().read() == PresenceState(metered=True)
    _set(system_bus, metered=0)
    assert presence_dbus.NetworkManagerMetered().read() == PresenceState(metered=None)


def test_the_platform_sources_combined(system_bus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # no session bus: the screensaver is unknown
    _set(system_bus, locked=True, on_battery=True, metered=1)
    source = heartbeat_presence()
    assert source is not None
    state = source.read()
    assert (state.locked, state.idle_s, state.on_battery, state.metered) == (True, 0.0, True, True)


def test_a_hung_service_is_unknown_within_its_timeout(system_bus: Path) -> None:
    _set(system_bus, stall=True)
    t0 = time.monotonic()
    assert presence_dbus.LogindSession().read() == UNKNOWN
    assert time.monotonic() - t0 < presence_dbus.TIMEOUT_S + 1.0


def test_no_system_bus_at_all_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/nothing-here")
    assert presence_dbus.LogindSession().read() == UNKNOWN
    assert presence_dbus.UPowerBattery().read() == UNKNOWN


@pytest.fixture
def dunst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dunst]:
    with running_dunst(tmp_path) as daemon:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.env["DBUS_SESSION_BUS_ADDRESS"])
        yield daemon


def test_do_not_disturb_from_dunst(dunst: Dunst) -> None:
    source = presence_dbus.DoNotDisturb(environ={})
    assert source.read() == PresenceState(do_not_disturb=False)
    dunst.ctl("set-paused", "true")
    assert source.read() == PresenceState(do_not_disturb=True)
    dunst.ctl("set-paused", "false")
    assert source.read() == PresenceState(do_not_disturb=False)
