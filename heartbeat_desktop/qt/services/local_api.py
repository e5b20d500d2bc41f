"""The local HTTP control API as a service of the running app: started, restarted and stopped to match the
settings, and bridged into the app (the server answers on its own threads; a run-now waits here for the
scheduler's answer to exactly that request).

The HTTP side (`api/server.py`) is Qt-free; this module is the only place that knows both.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from ...api.token import api_settings
from ...api.token import token as api_token
from ...core.models import Refusal, RunRecord, RunRefused
from ...store import SqliteStore
from ...store.settings import SettingsRepo
from ...wiring import run_wait_s

if TYPE_CHECKING:
    from ...api.server import ControlAPI
from .scheduler import HeartbeatScheduler

log = logging.getLogger(__name__)


class ApiBridgeQt(QObject):
    """Carries the local API's requests from its server threads into the app, and results back."""

    changed = Signal(str)

    def __init__(self, scheduler: HeartbeatScheduler, wait_s: Callable[[], float], parent: QObject | None = None):
        super().__init__(parent)
        self._scheduler = scheduler
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Event, list[RunRecord | RunRefused]]] = {}
        scheduler.request_done.connect(self._on_done)

    def run_now(self, thread_id: str, dry_run: bool) -> RunRecord | RunRefused:
        """Called on a server thread: ask the scheduler, wait for this run's answer. Whether a busy thread
        takes it is the scheduler's rule alone (queued once behind the run in flight, refused while one is
        queued), the same for the API, the command line and the tray: the API used to refuse at once."""
        token = uuid.uuid4().hex
        event = threading.Event()
        box: list[RunRecord | RunRefused] = []
        with self._lock:
            self._pending[token] = (event, box)
        self._scheduler.run_heartbeat_now(thread_id, dry_run, token)
        if not event.wait(self._wait_s()):
            with self._lock:
                self._pending.pop(token, None)
            return RunRefused(Refusal.TIMED_OUT, "the run did not finish in time; see History")
        return box[0]

    @Slot(str, object, object)
    def _on_done(self, token: str, run: RunRecord | None, refused: RunRefused | None) -> None:
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is not None:
            event, box = pending
            box.append(run if run is not None else refused or RunRefused(Refusal.CRASHED, "the run gave no result"))
            event.set()


class LocalApi(QObject):
    changed = Signal(str)  # what a script changed ("threads", "feed", "history"…): open windows refresh
    failed = Signal(str)  # the API could not start (the port is taken…)

    def __init__(
        self,
        scheduler: HeartbeatScheduler,
        data_dir: Path,
        db_path: Path,
        settings: Callable[[], SettingsRepo],
        on_fd_pressure: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._scheduler = scheduler
        self._data_dir = data_dir
        self._db_path = db_path
        self._settings = settings
        self._on_fd_pressure = on_fd_pressure
        self.server: ControlAPI | None = None  # created when the API is turned on
        self.error: str | None = None
        self._bridge = ApiBridgeQt(scheduler, self._wait_s, self)
        self._bridge.changed.connect(self.changed)

    def _wait_s(self) -> float:
        store = SqliteStore(self._db_path, recover=False)
        try:
            return run_wait_s(store)
        finally:
            store.close()

    @Slot()
    def configure(self) -> None:
        """Start, restart or stop the server to match the settings."""
        settings = api_settings(self._settings().get)
        if self.server is not None and settings.enabled and self.server.port == settings.port:
            return
        self.stop()
        if not settings.enabled:
            return
        from ...api.server import AppBridge, ControlAPI  # only when turned on: the server is not on the launch path

        scheduler = self._scheduler
        bridge = AppBridge(
            state=lambda: scheduler.state,
            pause=scheduler.pause,
            resume=scheduler.resume,
            reload=scheduler.reload,
            run_now=self._bridge.run_now,
            changed=self._bridge.changed.emit,
            heartbeat_md_path=self._data_dir / "HEARTBEAT.md",
            db_path=self._db_path,
        )
        try:
            self.server = ControlAPI(
                bridge, lambda: api_token(self._data_dir), settings.port, on_fd_pressure=self._on_fd_pressure
            ).start()
            self.error = None
        except OSError as exc:
            self.error = f"cannot listen on 127.0.0.1:{settings.port}: {exc.strerror or exc}"
            log.error("Local API: %s", self.error)
            self.failed.emit(self.error)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
