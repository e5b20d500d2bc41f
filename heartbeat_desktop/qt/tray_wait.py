"""Whether there is a system tray to live in: waited for at start (#27 item 6), watched after it appeared.

At start the app may come before the panel (login). `TrayWait` looks for a tray
(`QSystemTrayIcon.isSystemTrayAvailable()`, one X round trip on X11) every `POLL_MS` until `wait_s` have
passed, then says `missing` once (the app shows its fallback window) and keeps looking every `LATE_POLL_MS` —
only while there is no tray, so a desktop with one never wakes for it. When a tray appears, early or late, it
says `found`: the app shows its icon and puts the fallback window away, without a dialog.

A tray can also go after it appeared: the panel crashes or restarts, the StatusNotifierWatcher leaves the
session bus. The icon is then nowhere and, without the window, the user had no way in (found living with the
app). Nothing polls for that while the tray is there; it is looked at when something says it may have changed —
the watcher's name leaving or coming back on the session bus (`watch_bus`), and the moments the app is awake
anyway (`recheck`: after each heartbeat). A tray found gone is looked for every `POLL_MS` for `LOSS_GRACE_S`
(a panel that restarts is back within seconds, and a window flashing up for it would be noise); still gone, it
is `missing` (the fallback window), and looked for every `LATE_POLL_MS` until it is back (`found` again).

How long to wait at start: `autostart.AT_LOGIN_TRAY_WAIT_S` (60 s) when Start at login launched the app (its
entry sets HEARTBEAT_TRAY_WAIT, read by qt/launch.py), since panels can take most of a minute to come up on a
slow login; `BY_HAND_WAIT_S` otherwise, since a desktop that has a tray has it when the user starts an app by
hand, and a window that takes long to come is a launch that looks broken.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QSystemTrayIcon

log = logging.getLogger(__name__)

BY_HAND_WAIT_S = 3.0
LOSS_GRACE_S = 5.0
POLL_MS = 500
LATE_POLL_MS = 10_000
WATCHER = "org.kde.StatusNotifierWatcher"  # where a StatusNotifier tray (KDE, GNOME's extension, waybar…) lives


class TrayWait(QObject):
    found = Signal()  # a tray is there (at once, during the wait, after the fallback window came, or back again)
    missing = Signal()  # no tray after the wait, or it went and did not come back: show the fallback window

    def __init__(
        self,
        wait_s: float,
        available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
        parent: QObject | None = None,
        *,
        grace_s: float = LOSS_GRACE_S,
        poll_ms: int = POLL_MS,
        late_poll_ms: int = LATE_POLL_MS,
    ) -> None:
        super().__init__(parent)
        self.wait_s = wait_s
        self.grace_s = grace_s
        self._available = available
        self.poll_ms, self.late_poll_ms = poll_ms, late_poll_ms
        self._started = 0.0
        self._missing_said = False
        self.present = False  # the last look found a tray (and `found` said so)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._look)
        self._bus_watcher: QObject | None = None

    @property
    def waiting(self) -> bool:
        """Still looking for a tray (before or after the fallback window, or after it went)."""
        return self._timer.isActive()

    def start(self) -> None:
        self._started = time.monotonic()
        self._look()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def recheck(self) -> None:
        """Something may have changed (the tray's bus name moved, the app woke for a heartbeat): look now if the
        tray was there. Looking costs one call; a tray still there changes nothing."""
        if not self.present or self._timer.isActive() or self._available():
            return
        log.warning("The system tray went away; looking for it for %g s before showing the window", self.grace_s)
        self.present = False
        self._missing_said = False
        self._started = time.monotonic()
        self.wait_s = self.grace_s
        self._timer.start(self.poll_ms)

    def watch_bus(self, address: str | None = None) -> None:
        """Recheck whenever the StatusNotifierWatcher joins or leaves the session bus (Linux; no polling: the
        bus tells). Without a session bus nothing is watched, and the checks after heartbeats remain.
        `address`: another bus than the session's (the tests' private one)."""
        if not sys.platform.startswith("linux") or self._bus_watcher is not None:
            return
        try:
            from PySide6.QtDBus import QDBusConnection, QDBusServiceWatcher

            bus = QDBusConnection.sessionBus() if address is None else QDBusConnection.connectToBus(address, "tray")
            if not bus.isConnected():
                return
            mode = QDBusServiceWatcher.WatchModeFlag.WatchForOwnerChange
            watcher = QDBusServiceWatcher(WATCHER, bus, mode, self)
        except (ImportError, RuntimeError) as exc:  # a Qt without its D-Bus module: the other checks remain
            log.info("Not watching the tray's bus name: %s", exc)
            return
        # Qt needs a moment to see the new owner itself: look a little later than the bus says.
        watcher.serviceOwnerChanged.connect(lambda *_: QTimer.singleShot(self.poll_ms, self._bus_said))
        self._bus_watcher = watcher

    @Slot()
    def _bus_said(self) -> None:
        if self.present:
            self.recheck()
        elif self._missing_said and self._timer.isActive():
            self._timer.start(0)  # the fallback window stands in: look now rather than at the next slow poll

    @Slot()
    def _look(self) -> None:
        waited = time.monotonic() - self._started
        if self._available():
            if self._missing_said or waited >= self.poll_ms / 1000:
                log.info("A system tray appeared after %.0f s", waited)
            self.present = True
            self._missing_said = False
            self.found.emit()
            return
        if not self._missing_said and waited >= self.wait_s:
            self._missing_said = True
            log.warning("No system tray after %.0f s; showing the fallback window until one appears", waited)
            self.missing.emit()
        self._timer.start(self.late_poll_ms if self._missing_said else self.poll_ms)
