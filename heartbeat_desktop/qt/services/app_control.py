"""The running app's one implementation of `core.control.AppControl`: what every transport (the instance
socket, the local HTTP API) asks of the app ends up here, so a verb behaves the same whoever asks.

Threads: the API calls from its server threads, the socket from the GUI thread. Whatever touches windows,
the tray or the app's state is carried to the GUI thread by a queued signal; the scheduler's own methods
are already safe from any thread (they emit into its worker). Answers (`done`) are called on the GUI thread.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ...core.control import RunDone
from ...core.models import Refusal, RunRecord, RunRefused
from .scheduler import HeartbeatScheduler


@dataclass(frozen=True)
class AppHooks:
    """The parts of the app the verbs reach, passed in (the app builds it; a test passes its own)."""

    status: Callable[[], dict[str, object]]
    reload: Callable[[], None]
    api_reload: Callable[[], None]
    open_window: Callable[[str], object]
    close_window: Callable[[str], bool]
    raise_ui: Callable[[], None]
    unload_models: Callable[[], None]
    quit: Callable[[], None]
    # What a quit asked from outside would lose (the editor's unsaved text), said, or None; given True it drops
    # that work first (`quit --discard`). The tray's own Quit asks in a dialog instead.
    quit_blocker: Callable[[bool], str | None] = lambda _discard: None


class AppControlQt(QObject):
    _on_gui = Signal(object)  # a callable to run on this object's (the GUI) thread

    def __init__(self, scheduler: HeartbeatScheduler, hooks: AppHooks, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scheduler = scheduler
        self._hooks = hooks
        self._lock = threading.Lock()
        self._runs: dict[str, RunDone] = {}  # the scheduler answers a run-now by its token
        scheduler.request_done.connect(self._on_run_done)
        self._on_gui.connect(self._call, Qt.ConnectionType.QueuedConnection)

    def _gui(self, fn: Callable[[], object]) -> None:
        if QThread.currentThread() == self.thread():
            fn()
        else:
            self._on_gui.emit(fn)

    @Slot(object)
    def _call(self, fn: Callable[[], object]) -> None:
        fn()

    # ------------------------------------------------------------------ the verbs
    def status(self) -> dict[str, object]:
        return self._hooks.status()

    def run_now(self, thread_id: str, dry_run: bool, done: RunDone) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._runs[token] = done
        self._scheduler.run_heartbeat_now(thread_id, dry_run, token)
        return token

    def withdraw(self, token: str) -> None:
        with self._lock:
            self._runs.pop(token, None)  # nobody to answer any more
        self._scheduler.withdraw(token)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._scheduler.pause()
        else:
            self._scheduler.resume()

    def reload(self) -> None:
        self._gui(self._hooks.reload)

    def api_reload(self) -> None:
        self._gui(self._hooks.api_reload)

    def open_window(self, name: str) -> None:
        self._gui(lambda: self._hooks.open_window(name))

    def close_window(self, name: str, done: Callable[[bool], None]) -> None:
        # Always later, never inside the caller: closing may ask about unsaved changes in a modal dialog, whose
        # nested event loop must not run inside a socket's read handler (the client gives up meanwhile and
        # its connection is freed under the handler: the app crashed on Cancel).
        self._on_gui.emit(lambda: done(bool(self._hooks.close_window(name))))

    def raise_ui(self) -> None:
        self._gui(self._hooks.raise_ui)

    def unload_models(self) -> None:
        self._gui(self._hooks.unload_models)

    def quit(self, discard: bool, done: Callable[[str | None], None]) -> None:
        """Always later, never inside the caller (the socket's read handler); the answer is written before the
        app starts closing. Unsaved work refuses the quit without a dialog: the caller is told what to do."""

        def decide() -> None:
            unsaved = self._hooks.quit_blocker(discard)
            done(unsaved)
            if unsaved is None:
                self._on_gui.emit(self._hooks.quit)

        self._on_gui.emit(decide)

    # ------------------------------------------------------------------ answers
    @Slot(str, object, object)
    def _on_run_done(self, token: str, run: RunRecord | None, refused: RunRefused | None) -> None:
        with self._lock:
            done = self._runs.pop(token, None)
        if done is not None:
            done(run if run is not None else refused or RunRefused(Refusal.CRASHED, "the run gave no result"))
