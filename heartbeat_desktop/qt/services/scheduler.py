"""The scheduler's front on the GUI thread: what the app, its windows, the instance socket and the local API
call (start, stop, run-now, pause, resume, reload), each returning at once. The work — planning, the one
wake timer, dispatching runs — is `scheduler_worker.SchedulerWorker`'s, on its own QThread; results come
back as signals queued onto the GUI thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ...core.models import RunRecord
from ...core.scheduler_state import SchedulerState
from ...store import SqliteStore
from .scheduler_worker import SchedulerWorker

if TYPE_CHECKING:  # built by the caller's factory on a run's thread, not imported at launch
    from ...core.runner import HeartbeatRunner

log = logging.getLogger(__name__)


def enabled_from_env(environ: Mapping[str, str] = os.environ) -> bool:
    """`HEARTBEAT_ENABLED=0` (or the web heartbeat's `CRT_HEARTBEAT_ENABLED=false`) starts the scheduler paused."""
    for name in ("HEARTBEAT_ENABLED", "CRT_HEARTBEAT_ENABLED"):
        value = environ.get(name)
        if value is not None and value.strip().lower() in ("0", "false", "no", "off"):
            return False
    return True


class HeartbeatScheduler(QObject):
    """The front the web heartbeat's API expects (start, stop, status, run-now). It lives on the GUI thread
    and drives the worker on its QThread.

    Every method returns at once; results arrive through the signals (queued onto the caller's thread)
    and through plain-Python callbacks registered with `register_callback`.
    """

    run_started = Signal(str, str)
    run_finished = Signal(object)
    run_crashed = Signal(str, str)
    state_changed = Signal(object)
    thread_snoozed = Signal(str, str, float)  # thread_id, title, until: the snooze the worker took

    _start_work = Signal()
    _stop_work = Signal()
    _reload = Signal()
    _clock_jumped = Signal()
    _set_paused = Signal(bool)
    _set_thread_paused = Signal(str, bool)
    _snooze_thread = Signal(str, float)
    _unsnooze_thread = Signal(str)
    _request_run = Signal(str, bool, str)
    _withdraw = Signal(str)
    request_done = Signal(str, object, object)  # token, RunRecord | None, RunRefused | None

    def __init__(
        self,
        db_path: Path,
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
        *,
        clock: Callable[[], float] | None = None,
        max_parallel: int = 2,
        start_paused: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        paused = (not enabled_from_env()) if start_paused is None else start_paused
        self._worker = SchedulerWorker(
            db_path, make_runner, clock=clock, max_parallel=max_parallel, start_paused=paused
        )
        self._thread = QThread()
        self._thread.setObjectName("heartbeat-scheduler")
        self._worker.moveToThread(self._thread)
        self._callbacks: list[Callable[[RunRecord], None]] = []
        self.state = SchedulerState(False, paused)

        self._start_work.connect(self._worker.start_work)
        self._stop_work.connect(self._worker.stop_work)
        self._reload.connect(self._worker.reload)
        self._clock_jumped.connect(self._worker.clock_jumped)
        self._set_paused.connect(self._worker.set_paused)
        self._set_thread_paused.connect(self._worker.set_thread_paused)
        self._snooze_thread.connect(self._worker.snooze_thread)
        self._unsnooze_thread.connect(self._worker.unsnooze_thread)
        self._worker.snoozed.connect(self.thread_snoozed)
        self._request_run.connect(self._worker.request_run)
        self._withdraw.connect(self._worker.withdraw)
        self._worker.run_started.connect(self.run_started)
        self._worker.request_done.connect(self.request_done)
        self._worker.run_finished.connect(self._on_finished)
        self._worker.run_crashed.connect(self.run_crashed)
        self._worker.state_changed.connect(self._on_state)

    # ------------------------------------------------------------------ what the local API calls
    def start(self) -> None:
        if not self._thread.isRunning():
            self._thread.start()
            self._start_work.emit()

    def discard(self) -> None:
        """End a scheduler that was never started. Requests made of it (a pause) were queued to the worker,
        whose thread never ran; deleting the worker with events still queued for that thread is undefined in
        Qt, and once crashed a process. The thread runs once to take them (on the worker's own thread), then
        ends, and the worker can go."""
        if self._thread.isRunning() or self._thread.isFinished():
            return
        self._thread.start()
        self._thread.quit()
        self._thread.wait(5000)

    def stop(self, timeout_s: float = 1.5) -> bool:
        """Stop scheduling; returns within `timeout_s` (+ a little), even while an LLM call hangs."""
        if not self._thread.isRunning():
            return True
        self._stop_work.emit()
        finished = self._thread.wait(int(timeout_s * 1000))
        if not finished:
            log.warning("Scheduler thread did not stop within %.1f s; leaving it to exit with the app", timeout_s)
        return bool(finished)

    def run_heartbeat_now(self, thread_id: str, dry_run: bool = False, token: str = "") -> None:
        """Ask for a manual run. With a `token`, `request_done(token, run, refused)` answers this request."""
        self._request_run.emit(thread_id, dry_run, token)

    def withdraw(self, token: str) -> None:
        """The caller of run-now `token` left: a queued run is dropped, one in flight cancelled."""
        self._withdraw.emit(token)

    def register_callback(self, fn: Callable[[RunRecord], None]) -> None:
        """Call `fn(run)` after every finished run (on the GUI thread)."""
        self._callbacks.append(fn)

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        self._set_paused.emit(True)

    def resume(self) -> None:
        self._set_paused.emit(False)

    def pause_thread(self, thread_id: str) -> None:
        self._set_thread_paused.emit(thread_id, True)

    def resume_thread(self, thread_id: str) -> None:
        self._set_thread_paused.emit(thread_id, False)

    def snooze_thread(self, thread_id: str, seconds: float) -> None:
        """Put the thread's next scheduled heartbeat at least `seconds` from now."""
        self._snooze_thread.emit(thread_id, float(seconds))

    def unsnooze_thread(self, thread_id: str) -> None:
        """Take a snooze back: the thread's heartbeats follow its own plan again."""
        self._unsnooze_thread.emit(thread_id)

    def reload(self) -> None:
        """Call after changing threads or configs elsewhere; the worker re-reads and re-arms."""
        self._reload.emit()

    def clock_jumped(self) -> None:
        self._clock_jumped.emit()

    @property
    def is_running(self) -> bool:
        return self._thread.isRunning()

    # ------------------------------------------------------------------ plumbing
    @Slot(object)
    def _on_state(self, state: SchedulerState) -> None:
        self.state = state
        self.state_changed.emit(state)

    @Slot(object)
    def _on_finished(self, run: RunRecord) -> None:
        for fn in list(self._callbacks):
            try:
                fn(run)
            except Exception:
                log.exception("Heartbeat callback %r failed", fn)
        self.run_finished.emit(run)
