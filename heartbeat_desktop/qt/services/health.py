"""Is the model server reachable? Checked at start, then only while it is not (with backoff).

The retries start at one a minute and double up to one every ten minutes: an app that waits all day for
a server the user has not started must not wake the machine every few seconds to ask (issue #17: at most
one wake-up a minute with the server down). Opening the tray menu checks at once (`check_if_stale`), and a
heartbeat that reaches the server clears the error, so a server that comes back is noticed sooner.

While Ollama is down the tray shows the error state with the host in its tooltip, the user gets ONE
notification, and failing heartbeats stay quiet (they are still recorded in History) instead of
notifying every interval. Checks run on a worker thread; nothing polls while the server is up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ...core.ports import LLMError
from .tasks import Tasks

log = logging.getLogger(__name__)

FIRST_RETRY_MS = 60_000
MAX_RETRY_MS = 600_000


class HealthMonitor(QObject):
    changed = Signal(bool, str, str)  # reachable, host, message

    def __init__(
        self,
        probe: Callable[[str], str],
        host: Callable[[], str],
        parent: QObject | None = None,
        first_retry_ms: int = FIRST_RETRY_MS,
    ) -> None:
        """`host()` names the server (read once per check); `probe(host)` returns its version or raises
        LLMError."""
        super().__init__(parent)
        self._probe = probe
        self._host = host
        self.reachable: bool | None = None
        self.last_host: str | None = None  # the server last checked: what the app uses, for `status`
        self._checked_at = float("-inf")
        self.message = ""
        self._first_retry_ms = first_retry_ms
        self._retry_ms = first_retry_ms
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check)
        self._busy = False
        self._tasks = Tasks(self)

    @Slot()
    def check(self) -> None:
        if self._busy:
            return
        self._busy = True
        self._tasks.start(lambda _task: self._run_probe(), done=lambda result: self._on_result(*result))

    def _run_probe(self) -> tuple[bool, str, str]:
        try:
            host = self._host()
        except Exception as exc:  # the setting could not be read: nothing to ask
            return False, f"? ({exc})", f"{type(exc).__name__}: {exc}"
        try:
            version = self._probe(host)
        except LLMError as exc:
            return False, host, str(exc)
        except Exception as exc:
            return False, host, f"{type(exc).__name__}: {exc}"
        return True, host, f"Ollama {version} at {host}"

    @Slot(bool, str, str)
    def _on_result(self, ok: bool, host: str, message: str) -> None:
        self._busy = False
        self._checked_at = time.monotonic()
        was = self.reachable
        self.reachable, self.message, self.last_host = ok, message, host
        if ok:
            self._retry_ms = self._first_retry_ms
            self._timer.stop()
        else:
            self._timer.start(self._retry_ms)
            self._retry_ms = min(self._retry_ms * 2, MAX_RETRY_MS)
        if was != ok:
            log.info("Model server %s: %s", "reachable" if ok else "NOT reachable", message)
            self.changed.emit(ok, host, message)

    def check_if_stale(self, max_age_s: float = 10.0) -> None:
        """Check now unless a check ended in the last `max_age_s` (the user opened the menu)."""
        if time.monotonic() - self._checked_at >= max_age_s:
            self.check()

    def report_unreachable(self, message: str) -> None:
        """A run found the server down: enter the error state and start the quiet retries."""
        if self.reachable is not False:
            self._on_result(False, self._safe_host(), message)

    def _safe_host(self) -> str:
        try:
            return self._host()
        except Exception:
            return "?"
