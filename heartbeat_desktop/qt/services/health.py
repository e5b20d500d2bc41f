"""Do the model servers the threads use answer? Checked at start, then only while one does not (with backoff).

Only the servers some enabled thread's model uses are asked (`core.providers.health_targets`), each with its
own state: with every thread on an OpenAI-compatible server, a built-in Ollama that is not running is not a
problem and is never probed; with two servers in use, the one that is down is the one named.

The retries start at one a minute and double up to one every ten minutes: an app that waits all day for
a server the user has not started must not wake the machine every few seconds to ask (issue #17: at most
one wake-up a minute with the server down). Opening the tray menu checks at once (`check_if_stale`), and a
heartbeat that reaches its server clears that server's error, so a server that comes back is noticed sooner.

While a server is down the tray shows the error state naming it and its URL, the user gets ONE
notification, and failing heartbeats stay quiet (they are still recorded in History) instead of
notifying every interval. Checks run on a worker thread; nothing polls while every server is up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ...core.ports import LLMError
from ...core.providers import OLLAMA, HealthTarget, split_model
from .tasks import Tasks

log = logging.getLogger(__name__)

FIRST_RETRY_MS = 60_000
MAX_RETRY_MS = 600_000


@dataclass(frozen=True)
class ServerHealth:
    target: HealthTarget
    reachable: bool
    message: str  # the server's version and address, or what went wrong
    # When this was found (Unix time). Nothing polls a server that answers, so "answers" is only as fresh
    # as this: `status` says "answered when the app last checked (18:02)", not a present tense that a
    # server stopped since would make untrue (found living with the app).
    checked_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        when = datetime.fromtimestamp(self.checked_at).astimezone() if self.checked_at else None
        return {
            "provider": self.target.provider,
            "kind": self.target.kind,
            "url": self.target.url,
            "reachable": self.reachable,
            "message": self.message,
            "checked_at": when.isoformat(timespec="seconds") if when else None,
        }


class HealthMonitor(QObject):
    changed = Signal()  # which servers are down changed: read `down()`

    def __init__(
        self,
        probe: Callable[[HealthTarget], str],
        targets: Callable[[], list[HealthTarget]],
        parent: QObject | None = None,
        first_retry_ms: int = FIRST_RETRY_MS,
    ) -> None:
        """`targets()` names the servers in use (read once per check); `probe(target)` describes the one that
        answered or raises LLMError."""
        super().__init__(parent)
        self._probe = probe
        self._targets = targets
        self.servers: dict[str, ServerHealth] = {}  # by provider name: the servers in use at the last check
        self.error: str | None = None  # the servers in use could not even be read (the database)
        self._checked_at = float("-inf")
        self._first_retry_ms = first_retry_ms
        self._retry_ms = first_retry_ms
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check)
        self._busy = False
        self._tasks = Tasks(self)

    # ------------------------------------------------------------------ what the app reads
    @property
    def reachable(self) -> bool | None:
        """None before the first check; False while a server in use is down."""
        if not self.servers and self.error is None and self._checked_at == float("-inf"):
            return None
        return not self.down() and self.error is None

    def down(self) -> list[ServerHealth]:
        return [s for s in self.servers.values() if not s.reachable]

    @property
    def ollama_url(self) -> str | None:
        """The app's own Ollama when a thread uses it (for `status`)."""
        server = self.servers.get(OLLAMA)
        return server.target.url if server else None

    # ------------------------------------------------------------------ checks
    @Slot()
    def check(self) -> None:
        if self._busy:
            return
        self._busy = True
        self._tasks.start(lambda _task: self._run_probes(), done=self._on_result)

    def _run_probes(self) -> tuple[list[ServerHealth], str | None]:
        try:
            targets = self._targets()
        except Exception as exc:  # the settings could not be read: nothing to ask
            return [], f"cannot read which model servers the threads use: {exc}"
        results = []
        for target in targets:
            try:
                results.append(ServerHealth(target, True, self._probe(target), time.time()))
            except LLMError as exc:
                results.append(ServerHealth(target, False, str(exc), time.time()))
            except Exception as exc:
                results.append(ServerHealth(target, False, f"{type(exc).__name__}: {exc}", time.time()))
        return results, None

    @Slot(object)
    def _on_result(self, result: object) -> None:
        servers, error = result if isinstance(result, tuple) else ([], None)
        self._busy = False
        self._checked_at = time.monotonic()
        self._apply({s.target.provider: s for s in servers}, error)

    def _apply(self, servers: dict[str, ServerHealth], error: str | None) -> None:
        before = self._summary()
        self.servers, self.error = servers, error
        if self.down() or error is not None:
            self._timer.start(self._retry_ms)
            self._retry_ms = min(self._retry_ms * 2, MAX_RETRY_MS)
        else:
            self._retry_ms = self._first_retry_ms
            self._timer.stop()
        if self._summary() != before:
            for server in self.servers.values():
                log.info("Model server %s: %s", "reachable" if server.reachable else "NOT reachable", server.message)
            self.changed.emit()

    def _summary(self) -> tuple[object, ...]:
        return (self.error, tuple(sorted((name, s.target.url, s.reachable) for name, s in self.servers.items())))

    def check_if_stale(self, max_age_s: float = 10.0) -> None:
        """Check now unless a check ended in the last `max_age_s` (the user opened the menu)."""
        if time.monotonic() - self._checked_at >= max_age_s:
            self.check()

    def report_unreachable(self, model: str | None, message: str) -> None:
        """A run found its model's server down: enter that server's error state (its notification) and start
        the quiet retries. A server not checked yet is checked now."""
        name, _ = split_model(model or "", self.servers)
        known = self.servers.get(name)
        if known is None:
            self.check()
        elif known.reachable:
            self._apply({**self.servers, name: ServerHealth(known.target, False, message, time.time())}, self.error)
