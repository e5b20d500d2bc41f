"""A presence source whose answers the test sets (for the parts the D-Bus tests do not reach)."""

from __future__ import annotations

import threading
from dataclasses import replace

from heartbeat_desktop.core.presence import UNKNOWN, PresenceState


class FakePresence:
    def __init__(self, state: PresenceState = UNKNOWN) -> None:
        self._state = state
        self._lock = threading.Lock()
        self.reads = 0

    def set(self, **fields: object) -> None:
        with self._lock:
            self._state = replace(self._state, **fields)

    def read(self) -> PresenceState:
        with self._lock:
            self.reads += 1
            return self._state
