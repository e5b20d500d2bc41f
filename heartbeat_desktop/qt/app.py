"""The tray application: wires the scheduler, tray, notifications, single instance and process life.

Nothing here reads the database on the GUI thread: the scheduler worker owns a connection and publishes
`SchedulerState`; the tray and menu render that. Start-up does only what the first paint needs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from .. import __version__, paths, wiring
from ..autostart import Autostart
from ..core.models import RunRecord
from ..core.notify import Notice, notice_for
from ..core.runner import HeartbeatRunner
from ..llm import OllamaClient
from ..store import SqliteStore
from .editor_window import EditorWindow
from .fallback_window import FallbackWindow
from .feed_window import FeedWindow
from .health import HealthMonitor
from .history_window import HistoryWindow
from .icons import app_icon
from .notifications import Notifier
from .process import SignalWatcher, install_excepthook
from .scheduler import HeartbeatScheduler, SchedulerState
from .settings_dialog import SettingsDialog
from .single_instance import InstanceServer, request, server_name
from .threads_window import ThreadsWindow
from .tray import TrayController
from .tray_menu import TrayMenu
from .window_state import WindowMemory

log = logging.getLogger(__name__)

DEFAULT_TRAY_WAIT_S = 10.0


class TrayApp(QObject):
    def __init__(self, app: QApplication, data_dir: Path, *, tray_wait_s: float | None = None) -> None:
        super().__init__()
        self.app = app
        self.data_dir = data_dir
        self.autostart = Autostart()
        self.fallback: FallbackWindow | None = None
        self._quitting = False
        paths.ensure_heartbeat_md(data_dir)
        db_path = data_dir / "heartbeat.db"

        self.db_path = db_path
        self.scheduler = HeartbeatScheduler(db_path, self.make_runner, parent=self)
        self.memory = WindowMemory(data_dir)
        self._gui_store: SqliteStore | None = None
        self._open: dict[str, QWidget] = {}
        self.windows: dict[str, Callable[[], None]] = {
            name: (lambda n=name: self.open_window(n)) for name in ("threads", "feed", "history", "editor", "settings")
        }
        actions = {
            "run_now": self.run_now,
            "toggle_pause": self.toggle_pause,
            "windows": self.windows,
            "autostart_enabled": self.autostart.enabled,
            "set_autostart": self.set_autostart,
            "quit_app": self.quit,
        }
        self.menu = TrayMenu(**actions)
        self.tray = TrayController(self.menu, self)
        self.notifier = Notifier(self.tray.icon, parent=self)
        self.notifier.open_post.connect(self.open_post)
        self.health = HealthMonitor(self._probe, self._host, self)
        self.health.changed.connect(self._on_health)
        self.instance = InstanceServer(server_name(data_dir), self.scheduler, self)
        self.instance.raise_requested.connect(self.raise_ui)
        self.instance.open_requested.connect(self.open_window)
        self.scheduler.state_changed.connect(self._on_state)
        self.scheduler.register_callback(self._on_run_finished)
        self._fallback_actions = actions
        self._tray_wait_s = DEFAULT_TRAY_WAIT_S if tray_wait_s is None else tray_wait_s
        self.signals = SignalWatcher(lambda _sig: self.quit(), parent=self)
        install_excepthook(lambda title, body: self.notifier.show(Notice(title, body, critical=True)))

    # ------------------------------------------------------------------ start / stop
    def start(self) -> bool:
        if not self.instance.listen():
            log.info("Another instance is running for %s", self.data_dir)
            return False
        self.scheduler.start()
        self.health.check()
        self._show_tray_or_fallback(waited=0.0)
        log.info("Heartbeat Desktop %s started (data in %s)", __version__, self.data_dir)
        return True

    def _show_tray_or_fallback(self, waited: float) -> None:
        """The panel may start after us at login: wait a little for a tray before falling back."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.icon.show()
            log.info("Tray icon shown")
            if self.fallback is not None:
                self.fallback.hide()
            return
        if waited < self._tray_wait_s:
            QTimer.singleShot(500, lambda: self._show_tray_or_fallback(waited + 0.5))
            return
        log.warning("No system tray after %.0f s; showing the fallback window", waited)
        self.fallback = FallbackWindow(**self._fallback_actions)
        self.fallback.update_state(self.scheduler.state, self.tray.error)
        self.fallback.show()

    @Slot()
    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        log.info("Quitting")
        for window in list(self._open.values()):
            window.close()
        editor = self._open.get("editor")
        if editor is not None and editor.isVisible():  # the user chose Cancel on unsaved changes
            self._quitting = False
            return
        self.scheduler.stop()
        self.notifier.close()
        self.instance.close()
        self.tray.icon.hide()
        self.signals.close()
        if self._gui_store is not None:
            self._gui_store.close()
        self.app.quit()

    # ------------------------------------------------------------------ actions
    def run_now(self, thread_id: str) -> None:
        self.scheduler.run_heartbeat_now(thread_id)

    def toggle_pause(self) -> None:
        if self.scheduler.state.paused:
            self.scheduler.resume()
        else:
            self.scheduler.pause()

    def set_autostart(self, on: bool) -> None:
        try:
            self.autostart.set_enabled(on)
        except OSError as exc:
            self.notifier.show(Notice("Could not change Start at login", str(exc), critical=True))

    def make_runner(self, store: SqliteStore) -> HeartbeatRunner:
        return wiring.make_runner(store, self.data_dir)

    @property
    def gui_store(self) -> SqliteStore:
        """The GUI thread's own connection, for page-sized reads and small writes from the windows."""
        if self._gui_store is None:
            self._gui_store = SqliteStore(self.db_path, recover=False)
        return self._gui_store

    def thread_choices(self) -> list[tuple[str, str]]:
        state = self.scheduler.state
        if state.threads:
            return [(t.thread_id, t.title) for t in state.threads]
        return [(t.id, t.title) for t in self.gui_store.threads.list()]

    def open_window(self, name: str) -> QWidget | None:
        """Show a window (created on first use, then raised); the same one is reused."""
        window = self._open.get(name)
        if window is None or (name == "settings" and not window.isVisible()):
            window = self._create_window(name)
            if window is None:
                return None
            self._open[name] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def _create_window(self, name: str) -> QWidget | None:
        store = self.gui_store
        if name == "history":
            window: QWidget = HistoryWindow(store, self.db_path, self.memory, self.thread_choices)
            self.scheduler.run_finished.connect(lambda _run: window.isVisible() and window.refresh())
        elif name == "feed":
            window = FeedWindow(store, self.memory, on_change=lambda: None)
        elif name == "threads":
            window = ThreadsWindow(store, self.memory, on_change=self.scheduler.reload)
        elif name == "editor":
            target = paths.ensure_heartbeat_md(self.data_dir)
            window = EditorWindow(target, self.db_path, self.memory, self.thread_choices, self.make_runner)
        elif name == "settings":
            window = SettingsDialog(
                store,
                self.memory,
                autostart_enabled=self.autostart.enabled,
                set_autostart=self.set_autostart,
                on_applied=self.scheduler.reload,
                data_dir=self.data_dir,
            )
        else:
            log.warning("No window called %r", name)
            return None
        return window

    def open_post(self, post_id: int) -> None:
        window = self.open_window("feed")
        if isinstance(window, FeedWindow):
            window.show_post(post_id)

    def raise_ui(self) -> None:
        if self.fallback is not None:
            self.fallback.show()
            self.fallback.raise_()
            self.fallback.activateWindow()
            return
        if QSystemTrayIcon.supportsMessages():
            self.tray.icon.showMessage(
                "Heartbeat Desktop is already running",
                "Find it in the system tray.",
                QSystemTrayIcon.MessageIcon.Information,
                4000,
            )

    # ------------------------------------------------------------------ state
    @Slot(object)
    def _on_state(self, state: SchedulerState) -> None:
        self.tray.update(state)
        if self.fallback is not None:
            self.fallback.update_state(state, self.tray.error)

    def _on_run_finished(self, run: RunRecord) -> None:
        if run.error_kind == "unreachable":
            first = self.health.reachable is not False
            self.health.report_unreachable(run.reason)
            if not first:
                return  # already told: stay quiet while the health check retries
        elif run.status == "ok" and self.health.reachable is False:
            self.health.check()
        entry = self.scheduler.state.thread(run.thread_id)
        config = entry.config if entry is not None else None
        if config is None:
            return
        notice = notice_for(run, config)
        if notice is not None and run.error_kind != "unreachable":
            self.notifier.show(notice)

    @Slot(bool, str, str)
    def _on_health(self, reachable: bool, host: str, message: str) -> None:
        if reachable:
            self.tray.set_error(None)
            return
        self.tray.set_error(f"cannot reach the model server at {host}")
        self.notifier.show(Notice("Heartbeat Desktop cannot reach Ollama", message, critical=True))

    def _host(self) -> str:
        return self._llm().host

    def _probe(self) -> str:
        return self._llm().version()

    def _llm(self) -> OllamaClient:
        # Runs on the health-check thread: its own short-lived connection, never the GUI thread's.
        store = SqliteStore(self.data_dir / "heartbeat.db", recover=False)
        try:
            return wiring.make_llm(store)
        finally:
            store.close()


def run_tray(argv: list[str] | None = None, open_window: str | None = None) -> int:
    data_dir = paths.data_dir()
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Heartbeat Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("heartbeat-desktop")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    message = {"cmd": "open", "window": open_window} if open_window else {"cmd": "raise"}
    if request(server_name(data_dir), message, timeout_s=2.0) is not None:
        print("Heartbeat Desktop is already running; showed it.", file=sys.stderr)
        return 0
    wait = os.environ.get("HEARTBEAT_TRAY_WAIT")
    tray_app = TrayApp(app, data_dir, tray_wait_s=float(wait) if wait else None)
    if not tray_app.start():
        return 0
    if open_window:
        tray_app.open_window(open_window)
    return app.exec()
