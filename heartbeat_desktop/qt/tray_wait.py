"""Waiting for a system tray that is not there yet (#27 item 6): the app started at login before the panel.

`TrayWait` looks for a tray (`QSystemTrayIcon.isSystemTrayAvailable()`, one X round trip on X11) every
`POLL_MS` until `wait_s` have passed, then says `missing` once (the app shows its fallback window) and keeps
looking every `LATE_POLL_MS` — only while there is no tray, so a desktop with one never wakes for it. When
a tray appears, early or late, it says `found` once and stops: the app shows its icon and puts the fallback
window away, without a dialog.

How long to wait: `autostart.AT_LOGIN_TRAY_WAIT_S` (60 s) when Start at login launched the app (its entry
sets HEARTBEAT_TRAY_WAIT, read by qt/launch.py), since panels can take most of a minute to come up on a slow
login; `BY_HAND_WAIT_S` otherwise, since a desktop that has a tray has it when the user starts an app by
hand, and a window that takes long to come is a launch that looks broken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QSystemTrayIcon

log = logging.getLogger(__name__)

BY_HAND_WAIT_S = 3.0
POLL_MS = 500
LATE_POLL_MS = 10_000


class TrayWait(QObject):
    found = Signal()  # a tray is there (at once, during the wait, or after the fallback window came)
    missing = Signal()  # no tray after the wait: show the fallback window

    def __init__(
        self,
        wait_s: float,
        available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.wait_s = wait_s
        self._available = available
        self._started = 0.0
        self._missing_said = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._look)

    @property
    def waiting(self) -> bool:
        """Still looking for a tray (before or after the fallback window)."""
        return self._timer.isActive()

    def start(self) -> None:
        self._started = time.monotonic()
        self._look()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _look(self) -> None:
        if self._available():
            waited = time.monotonic() - self._started
            if self._missing_said or waited >= POLL_MS / 1000:
                log.info("A system tray appeared after %.0f s", waited)
            self.found.emit()
            return
        waited = time.monotonic() - self._started
        if not self._missing_said and waited >= self.wait_s:
            self._missing_said = True
            log.warning("No system tray after %.0f s; showing the fallback window until one appears", waited)
            self.missing.emit()
        self._timer.start(LATE_POLL_MS if self._missing_said else POLL_MS)
