"""The GUI's one way to run blocking work (network, big queries, file I/O) off the GUI thread.

A `Task` runs its function on a daemon worker and emits `done(result)` or `failed(message)` on the thread
that created it. `cancel()` only stops the result from being delivered — the caller's UI returns to idle
at once; the function itself should watch `cancelled` if it can stop early (a pull, a preview run).

A `Tasks` group is what a window or service owns: it starts tasks, forgets each one as it finishes (a
dialog open all day does not collect dead tasks), and cancels what is left when the window closes.

Workers are daemon threads, not a `ThreadPoolExecutor`: an executor's threads are joined at exit, so a
model pull or a hung server would keep the app from quitting. Two kinds of background work deliberately
stay outside: heartbeat runs (the scheduler's, each with its own database connection and Cancel wired
to the model client) and the notification daemon's ordered queue (notices must keep their order).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Task(QObject):
    done = Signal(object)
    failed = Signal(str)
    progress = Signal(object)
    finished = Signal()  # after done or failed (or a cancelled end): the group forgets the task

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

    def release(self) -> None:
        """Drop every connection. A parentless Task's connections live in C++, where Python's collector
        cannot see them: a `done` slot that closes over its window kept the whole window (every widget's
        wrapper) alive after it closed, about 250 KB per Settings opened (issue #17)."""
        with warnings.catch_warnings():  # PySide warns when a signal had nothing connected: nothing to say
            warnings.simplefilter("ignore", RuntimeWarning)
            for signal in (self.done, self.failed, self.progress, self.finished):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):  # nothing connected, or the object is already gone
                    pass

    def _run(self) -> None:
        try:
            try:
                result = self._fn(self)
            except Exception as exc:
                log.debug("Background task failed", exc_info=True)
                if not self.cancelled.is_set():
                    self.failed.emit(str(exc) or type(exc).__name__)
            else:
                if not self.cancelled.is_set():
                    self.done.emit(result)
            self.finished.emit()
        except RuntimeError:  # the window that owned the task was closed and deleted: nobody is listening
            log.debug("Background task outlived its window")


class Tasks(QObject):
    """The live tasks of one owner."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live: set[Task] = set()

    def start(
        self,
        fn: Callable[[Task], Any],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        *,
        progress: Callable[[Any], None] | None = None,
    ) -> Task:
        """Start `fn(task)` on a worker. Every slot is connected before it starts: a signal emitted with
        nothing connected yet is lost, not queued."""
        # No parent: a window closing while its task runs must not delete the object the worker is about to
        # emit from (Qt would crash); the group and the worker's own frame keep it alive until both are done.
        task = Task(fn)
        if done is not None:
            task.done.connect(done)
        if failed is not None:
            task.failed.connect(failed)
        if progress is not None:
            task.progress.connect(progress)
        task.finished.connect(lambda t=task: self._forget(t))
        self._live.add(task)
        return task.start()

    def _forget(self, task: Task) -> None:
        # Dropping the reference (not deleteLater): the worker may still be inside emit() when this runs.
        self._live.discard(task)
        task.release()

    def cancel_all(self) -> None:
        """The owner is closing: stop delivering, and let go of the tasks and what their slots hold."""
        for task in list(self._live):
            task.cancel()
            task.release()
        self._live.clear()

    def __len__(self) -> int:
        return len(self._live)
