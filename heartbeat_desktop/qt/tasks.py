"""Run blocking work (network, big queries, file I/O) off the GUI thread; get the result as a signal.

A `Task` runs its function on a daemon thread and emits `done(result)` or `failed(message)` on the
thread that created it. `cancel()` only stops the result from being delivered — the caller's UI
returns to idle at once; the function itself should watch a cancel flag if it can stop early.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Task(QObject):
    done = Signal(object)
    failed = Signal(str)
    progress = Signal(object)

    def __init__(self, fn: Callable[[Task], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ui-task", daemon=True)

    def start(self) -> Task:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def _run(self) -> None:
        try:
            result = self._fn(self)
        except Exception as exc:
            log.debug("Background task failed", exc_info=True)
            if not self.cancelled.is_set():
                self.failed.emit(str(exc) or type(exc).__name__)
            return
        if not self.cancelled.is_set():
            self.done.emit(result)
