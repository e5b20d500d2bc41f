"""Presence from the Linux desktop's own services over D-Bus (jeepney, which keyring already brings).

Each class asks one service and answers only what it knows; a service that is missing, refuses or takes
longer than `TIMEOUT_S` leaves its fields unknown (None) — never "away". Every read opens its own short
connection: reads happen once per scheduled heartbeat (or while notifications are held), so a long-lived
connection, with its reconnect logic, would cost more than it saves.

- logind (system bus): the session's `LockedHint`, `IdleHint` and `IdleSinceHint` — GNOME, KDE and most
  lockers set them;
- org.freedesktop.ScreenSaver (session bus): `GetActive` (the locker is up) and, on KDE,
  `GetSessionIdleTime`;
- UPower (system bus): `OnBattery`;
- NetworkManager (system bus): `Metered` (yes and guess-yes count as metered);
- Do Not Disturb, which freedesktop does not standardise: the notification daemon's `Inhibited` property
  (KDE Plasma), dunst's `paused`, and GNOME's `show-banners` setting.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from ..core.presence import UNKNOWN, PresenceState

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0


def _get_all(bus: str, name: str, path: str, interface: str) -> dict[str, Any] | None:
    """All properties of `interface` on `path`, or None if the service is not there or does not answer."""
    try:
        from jeepney import DBusAddress
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import Properties, unwrap_msg

        with open_dbus_connection(bus=bus, auth_timeout=TIMEOUT_S) as conn:
            reply = conn.send_and_get_reply(
                Properties(DBusAddress(path, bus_name=name, interface=interface)).get_all(), timeout=TIMEOUT_S
            )
            (props,) = unwrap_msg(reply)
    except Exception as exc:  # no bus, no service, a refusal, a timeout: all mean "unknown"
        log.debug("%s %s: %s", name, path, exc)
        return None
    return {key: value for key, (_signature, value) in props.items()}


def _call(bus: str, name: str, path: str, interface: str, method: str) -> Any:
    """One method call without arguments; None on any failure."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        with open_dbus_connection(bus=bus, auth_timeout=TIMEOUT_S) as conn:
            reply = conn.send_and_get_reply(
                new_method_call(DBusAddress(path, bus_name=name, interface=interface), method), timeout=TIMEOUT_S
            )
            return unwrap_msg(reply)[0]
    except Exception as exc:
        log.debug("%s.%s: %s", interface, method, exc)
        return None


class LogindSession:
    """The login session this process belongs to ("auto": the caller's session, else the user's display
    session — what a tray app started by the desktop or by a user service both want)."""

    NAME = "org.freedesktop.login1"
    INTERFACE = "org.freedesktop.login1.Session"

    def __init__(
        self, path: str = "/org/freedesktop/login1/session/auto", clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.clock = clock

    def read(self) -> PresenceState:
        props = _get_all("SYSTEM", self.NAME, self.path, self.INTERFACE)
        if props is None:
            return UNKNOWN
        locked = props.get("LockedHint")
        idle_s: float | None = None
        if "IdleHint" in props:
            since_us = props.get("IdleSinceHint") or 0
            idle_s = max(0.0, self.clock() - since_us / 1e6) if props["IdleHint"] and since_us else 0.0
        return PresenceState(locked=bool(locked) if locked is not None else None, idle_s=idle_s)


class ScreenSaver:
    NAME = "org.freedesktop.ScreenSaver"

    def __init__(self, path: str = "/org/freedesktop/ScreenSaver") -> None:
        self.path = path

    def read(self) -> PresenceState:
        active = _call("SESSION", self.NAME, self.path, self.NAME, "GetActive")
        if active is None:
            return UNKNOWN
        idle = _call("SESSION", self.NAME, self.path, self.NAME, "GetSessionIdleTime")  # KDE only
        return PresenceState(locked=bool(active), idle_s=float(idle) if isinstance(idle, int) else None)


class UPowerBattery:
    def read(self) -> PresenceState:
        props = _get_all("SYSTEM", "org.freedesktop.UPower", "/org/freedesktop/UPower", "org.freedesktop.UPower")
        if props is None or "OnBattery" not in props:
            return UNKNOWN
        return PresenceState(on_battery=bool(props["OnBattery"]))


# NMMetered: 0 unknown, 1 yes, 2 no, 3 guess-yes, 4 guess-no
_METERED = {1: True, 2: False, 3: True, 4: False}


class NetworkManagerMetered:
    NAME = "org.freedesktop.NetworkManager"

    def read(self) -> PresenceState:
        props = _get_all("SYSTEM", self.NAME, "/org/freedesktop/NetworkManager", self.NAME)
        if props is None:
            return UNKNOWN
        return PresenceState(metered=_METERED.get(props.get("Metered", 0)))


class DoNotDisturb:
    NAME = "org.freedesktop.Notifications"
    PATH = "/org/freedesktop/Notifications"

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def read(self) -> PresenceState:
        props = _get_all("SESSION", self.NAME, self.PATH, self.NAME)
        if props and "Inhibited" in props:  # KDE Plasma
            return PresenceState(do_not_disturb=bool(props["Inhibited"]))
        props = _get_all("SESSION", self.NAME, self.PATH, "org.dunstproject.cmd0")
        if props and "paused" in props:  # dunst
            return PresenceState(do_not_disturb=bool(props["paused"]))
        if "GNOME" in self.environ.get("XDG_CURRENT_DESKTOP", "").upper():
            return PresenceState(do_not_disturb=self._gnome())
        return UNKNOWN

    @staticmethod
    def _gnome() -> bool | None:
        gsettings = shutil.which("gsettings")
        if gsettings is None:
            return None
        try:
            out = subprocess.run(
                [gsettings, "get", "org.gnome.desktop.notifications", "show-banners"],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S * 2,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        return {"false": True, "true": False}.get(out)
