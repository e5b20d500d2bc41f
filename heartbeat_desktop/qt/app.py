"""The tray application: wires the scheduler, tray, notifications, single instance and process life.

Nothing here reads the database on the GUI thread: the scheduler worker owns a connection and publishes
`SchedulerState`; the tray and menu render that. Start-up does only what the first paint needs.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from .. import __version__, paths, wiring
from ..autostart import Autostart
from ..core import clock as sim_clock
from ..core.models import RunRecord
from ..core.notify import Notice, failure_key, notice_for
from ..core.ports import StoreError
from ..core.presence import PresenceSource, Switchable
from ..core.present import scheduler_status
from ..instance_lock import InstanceLock
from ..instance_socket import server_name
from ..presence import heartbeat_presence, notification_presence
from ..store import SqliteStore
from ..window_names import WINDOWS
from .first_run import FirstRunOffer
from .notification_actions import NotificationActions
from .services.app_control import AppControlQt, AppHooks
from .services.health import HealthMonitor
from .services.local_api import LocalApi
from .services.notifications import Notifier
from .services.process import SignalWatcher, install_excepthook
from .services.scheduler import HeartbeatScheduler, SchedulerState
from .services.single_instance import InstanceServer
from .services.tasks import Tasks
from .tray import CRASH, HEALTH, TrayController
from .tray_home import TrayHome
from .tray_menu import TrayActions, TrayMenu
from .tray_wait import BY_HAND_WAIT_S, TrayWait
from .window_manager import WindowManager
from .windows.registry import WindowParts, window_factories
from .windows.window_state import WindowMemory

if TYPE_CHECKING:  # imported where first used: the tray needs none of them to appear (issue #17)
    from ..core.runner import HeartbeatRunner
    from .windows.fallback_window import FallbackWindow

log = logging.getLogger(__name__)


class TrayApp(QObject):
    # From the API's thread when the process runs out of file descriptors: listeners must be checked.
    fd_pressure = Signal()

    def __init__(
        self,
        app: QApplication,
        data_dir: Path,
        *,
        tray_wait_s: float | None = None,
        presence: PresenceSource | bool | None = True,
        dnd: PresenceSource | bool | None = True,
        lock: InstanceLock | None = None,
        icon: QSystemTrayIcon | None = None,
        tray_available: Callable[[], bool] | None = None,
    ) -> None:
        """`presence` and `dnd`: where "is the user here / is Do Not Disturb on" come from — True for the
        desktop's own services (presence/), None for nowhere (never deferred, never held), or a source.
        `lock` and `icon`: what the launch already took and showed before importing the app (qt/launch.py).
        `tray_available`: whether there is a system tray now (Qt's answer unless given: tests drive it)."""
        super().__init__()
        self.app = app
        self.data_dir = data_dir
        self.presence = heartbeat_presence() if presence is True else (presence or None)
        dnd_source = notification_presence() if dnd is True else (dnd or None)
        self.hold_during_dnd = True  # the app setting, read at start and whenever settings change
        self.autostart = Autostart()
        self._quitting = False
        self.db_path = db_path = paths.db_file(data_dir)
        if not db_path.exists():  # the very first start only (as the launch's open_store)
            paths.ensure_heartbeat_md(data_dir)
        # One per app: keyring lookups shared by every run, bounded, asked only where a key was stored.
        self.key_cache = wiring.key_cache(data_dir)
        # A simulated clock only when HEARTBEAT_SIMULATED_CLOCK asks for one (the endurance benchmark).
        self.clock = sim_clock.from_env_or_none()
        if self.clock is not None:
            log.warning("Simulated clock: %g simulated seconds per second, from %s", self.clock.rate, self.clock.start)
        self.scheduler = HeartbeatScheduler(db_path, self.make_runner, clock=self.clock, parent=self)
        self.memory = WindowMemory(data_dir)
        self._gui_store: SqliteStore | None = None
        self._tasks = Tasks(self)  # background work of the app's own (unloading models)
        self.window_manager = WindowManager(self.window_factories, self)
        self._build_tray(dnd_source, icon)
        self._build_control(lock or InstanceLock(data_dir))
        self.health = HealthMonitor(wiring.probe_target, partial(wiring.health_targets, data_dir), self)
        open_setup, withdraw = partial(self.open_window, "setup"), partial(self.notifier.withdraw, "health")
        self.first_run = FirstRunOffer(data_dir, open_setup, withdraw, self._on_health, self)  # once
        self._connect()
        self.tray_home = TrayHome(self.tray, self.actions, lambda: self.scheduler.state, self)
        wait_s = BY_HAND_WAIT_S if tray_wait_s is None else tray_wait_s
        self.tray_wait = TrayWait(wait_s, tray_available or QSystemTrayIcon.isSystemTrayAvailable, self)
        self.tray_wait.found.connect(self.tray_home.tray_found)
        self.tray_wait.missing.connect(self.tray_home.tray_missing)
        self.signals = SignalWatcher(lambda _sig: self.quit(), parent=self)
        install_excepthook(lambda title, body: self.notifier.show(Notice(title, body, critical=True)))

    def _build_tray(self, dnd_source: PresenceSource | None, icon: QSystemTrayIcon | None) -> None:
        """The icon, its menu and the notifications, and what a notification's buttons do."""
        self.windows: dict[str, Callable[[], object]] = {name: partial(self.open_window, name) for name in WINDOWS}
        self.actions = TrayActions(
            run_now=self.run_now,
            toggle_pause=self.toggle_pause,
            windows=self.windows,
            autostart_enabled=self.autostart.enabled,
            set_autostart=self.set_autostart,
            quit_app=self.quit,
            unload_models=self.unload_models,
            resume_snoozed=self.scheduler.unsnooze_thread,
        )
        self.menu = TrayMenu(self.actions)
        self.tray = TrayController(self.menu, self, icon)
        # A left click opens what people look for first: what the heartbeats did.
        self.tray.activated_primary.connect(lambda: self.open_window("history"))
        self.notifier = Notifier(
            self.tray.icon,
            dnd=Switchable(dnd_source, lambda: self.hold_during_dnd) if dnd_source else None,
            parent=self,
        )
        self.notification_actions = NotificationActions(
            windows=self.window_manager,
            schedule=self.scheduler,
            store=lambda: self.gui_store,
            notifier=self.notifier,
            changed=self.window_manager.refresh_visible,
        )
        self.notifier.action_requested.connect(self.notification_actions.handle)
        self.scheduler.thread_snoozed.connect(self.notification_actions.snoozed)  # said, with until when

    def _build_control(self, lock: InstanceLock) -> None:
        """How the app is reached from outside: the verbs of core.control, implemented once, and the two
        transports that carry them (the instance socket, the local API)."""
        self.control = AppControlQt(
            self.scheduler,
            AppHooks(
                status=self.live_status,
                reload=self._on_outside_change,
                api_reload=self.configure_api,
                open_window=self.open_window,
                close_window=self.close_window,
                raise_ui=self.raise_ui,
                unload_models=self.unload_models,
                quit=self.quit,
                quit_blocker=self.window_manager.quit_blocker,
            ),
            self,
        )
        self.instance = InstanceServer(server_name(self.data_dir, recorded=False), self.control, self, lock=lock)
        self.fd_pressure.connect(self._recheck_listeners)
        self._relisten_delay_s = 0.0
        self._relisten = QTimer(self)
        self._relisten.setSingleShot(True)
        self._relisten.timeout.connect(self._recheck_listeners)
        self.local_api = LocalApi(
            self.control, self.data_dir, self.db_path, lambda: self.gui_store.settings, self.fd_pressure.emit, self
        )
        self.local_api.failed.connect(
            lambda error: self.notifier.show(Notice("The local API could not start", error, critical=True))
        )

    def _connect(self) -> None:
        """What the app does when the scheduler, the health check and the menu say something."""
        self.health.changed.connect(self._on_health)
        self.first_run.decided.connect(self._on_health)  # told now if the first-run window is not shown
        # Between heartbeats nothing polls the model server (no idle wake-ups); when the user looks at the
        # menu, check it, so what the menu and tooltip say is true now.
        self.menu.aboutToShow.connect(self.health.check_if_stale)
        # Qt stops a QLocalServer for good when an accept fails (descriptors ran out) and says nothing. The
        # app looks again whenever it is awake anyway — the menu opens, a heartbeat ends — so the CLI finds
        # it again without a timer waking the process to poll.
        self.menu.aboutToShow.connect(self._recheck_listeners)
        self.scheduler.state_changed.connect(self._on_state)
        self.scheduler.register_callback(self._on_run_finished)
        self._crash_shown: str | None = None  # the cause of runs that left no record, once told
        self.scheduler.run_crashed.connect(self._on_run_crashed)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> bool:
        """False when another app runs on this data directory: its lock decides (instance_lock.py)."""
        if not self.instance.listen():
            log.info("Another instance is running for %s", self.data_dir)
            return False
        self._read_app_flags()
        self.scheduler.start()
        # the keys now, off the GUI thread and off any run: a keyring that needs unlocking asks at start
        threading.Thread(
            target=wiring.prefetch_keys, args=(self.db_path, self.key_cache), name="key-prefetch", daemon=True
        ).start()
        self.health.check()
        self.first_run.check()
        self.configure_api()
        self.tray_wait.start()
        self.tray_wait.watch_bus()  # a tray that goes later (the panel crashed): the window then (#28)
        log.info("Heartbeat Desktop %s started (data in %s)", __version__, self.data_dir)
        return True

    @property
    def fallback(self) -> FallbackWindow | None:
        """The window standing in for a tray that is not there (tray_home.py)."""
        return self.tray_home.window

    @Slot()
    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        log.info("Quitting")
        if not self.window_manager.close_all():  # the user chose Cancel on unsaved changes in the editor
            self._quitting = False
            return
        self.tray_wait.stop()
        self.scheduler.stop()
        self.local_api.stop()
        self.notifier.close()
        self.notifier.wait_closed(2.0)  # its notifications come down before the process ends
        self.instance.close()
        self.tray.icon.hide()
        self.signals.close()
        if self._gui_store is not None:
            self._gui_store.close()
        self.app.quit()

    # ------------------------------------------------------------------ actions
    def run_now(self, thread_id: str) -> None:
        self.scheduler.run_heartbeat_now(thread_id)

    def unload_models(self) -> None:
        """The tray's "Unload models now", for the servers the threads use (llm/unload.py), off the GUI thread."""
        from ..llm.unload import Unloaded, summary

        def done(result: object) -> None:
            title, body, critical = summary(cast(list[Unloaded], result))
            self.notifier.show(Notice(title, body, critical=critical))

        def failed(message: str) -> None:
            self.notifier.show(Notice("Could not unload the models", message, critical=True))

        self._tasks.start(lambda _task: wiring.unload_in_use(self.data_dir, self.key_cache), done, failed)

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
        return wiring.make_runner(store, self.data_dir, keys=self.key_cache, presence=self.presence)

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
        """Show a window (created on first use, then raised); the same one is reused while open."""
        return self.window_manager.open(name)

    @property
    def window_factories(self) -> dict[str, Callable[[], QWidget]]:
        """The window registry (`windows.registry`): one factory per name in `window_names.WINDOWS`."""
        return window_factories(
            WindowParts(
                store=lambda: self.gui_store,
                memory=self.memory,
                data_dir=self.data_dir,
                scheduler=self.scheduler,
                thread_choices=self.thread_choices,
                make_runner=self.make_runner,
                autostart_enabled=self.autostart.enabled,
                set_autostart=self.set_autostart,
                settings_applied=self._settings_applied,
            )
        )

    def close_window(self, name: str) -> bool:
        """Close a window if it is open (the CLI's `close`); False when it was not."""
        return self.window_manager.close(name)

    @Slot()
    def _on_outside_change(self) -> None:
        """The CLI or a script (the API) changed threads, configs, messages or settings: re-plan and refresh
        what is open."""
        self.scheduler.reload()
        self._read_app_flags()
        self.window_manager.refresh_visible()
        self.health.check()  # the Ollama host may be what changed: say now whether the new one answers

    def _settings_applied(self) -> None:
        self.scheduler.reload()
        self._read_app_flags()
        self.configure_api()
        self.health.check()

    def _read_app_flags(self) -> None:
        try:
            self.hold_during_dnd = self.gui_store.settings.app().hold_during_dnd
        except StoreError as exc:
            log.warning("Could not read settings: %s", exc)

    def raise_ui(self) -> None:
        if self.tray_home.raise_window():
            return
        if QSystemTrayIcon.supportsMessages():
            self.tray.icon.showMessage(
                "Heartbeat Desktop is already running",
                "Find it in the system tray.",
                QSystemTrayIcon.MessageIcon.Information,
                4000,
            )

    # ------------------------------------------------------------------ local API
    @Slot()
    def configure_api(self) -> None:
        """Start, restart or stop the local API to match the settings (at start and on every change)."""
        self.local_api.configure()

    @Slot()
    def _recheck_listeners(self) -> None:
        """After descriptors ran out: make sure the CLI can still reach us, retrying with back-off until the
        pressure is gone (Qt gives up on a QLocalServer whose accept failed)."""
        if self._quitting:
            return
        if self.instance.ensure_listening():
            self._relisten_delay_s = 0.0
            return
        if self._relisten.isActive():  # a retry is already on its way
            return
        self._relisten_delay_s = min(60.0, self._relisten_delay_s * 2 or 1.0)
        self._relisten.start(int(self._relisten_delay_s * 1000))

    # ------------------------------------------------------------------ state
    @Slot(object)
    def _on_state(self, state: SchedulerState) -> None:
        self.tray.update(state)
        self.tray_home.update(state, self.tray.error)

    @Slot(str, str)
    def _on_run_crashed(self, thread_id: str, why: str) -> None:
        """A run that could not even be recorded (the database would not open: another version upgraded it,
        the disk is gone). Said once per cause, not once per thread and slot: thirty threads failing alike
        are one problem, and a notification every few minutes would bury it."""
        self.tray.set_error(CRASH, f"heartbeats cannot run: {why}")
        if why == self._crash_shown:
            return
        self._crash_shown = why
        self.notifier.show(Notice("Heartbeat Desktop cannot run heartbeats", why, critical=True, alone=True,
                                  thread_id=thread_id, key="crash"))  # fmt: skip

    def _on_run_finished(self, run: RunRecord) -> None:
        if self._crash_shown is not None:  # a run was recorded again: the cause is gone
            self._crash_shown = None
            self.tray.set_error(CRASH, None)
            self.notifier.withdraw("crash")
        self._recheck_listeners()  # cheap (one isListening()); see the menu's aboutToShow above
        self.tray_wait.recheck()  # awake anyway: is the tray still there? (one call while it is)
        if run.dry_run:  # a question (run-now --dry-run), not a heartbeat: never the app's health or icon
            return
        if run.error_kind == "unreachable":  # the health check's one notification says it, not each run
            self.health.report_unreachable(run.model, run.reason)
        elif run.status == "ok":
            self.notifier.withdraw(failure_key(run.thread_id))  # its last failure is over
            if self.health.reachable is False:
                self.health.check()
        entry = self.scheduler.state.thread(run.thread_id)
        if entry is None:
            return
        notice = notice_for(run, entry.config, entry.title)
        if notice is not None and run.error_kind != "unreachable":
            self.notifier.show(notice)

    @Slot()
    def _on_health(self) -> None:
        """The servers in use that are down, by name and URL, in the tray and in one notification."""
        down = self.health.down()
        if not down and self.health.error is None:
            self.tray.set_error(HEALTH, None)
            self.notifier.withdraw("health")  # "cannot reach" must not stay up after it is back
            return
        names = [f"{s.target.label} at {s.target.url}" for s in down]
        self.tray.set_error(HEALTH, self.health.error or "cannot reach " + " and ".join(names))
        if not self.first_run.checked or (self.first_run.offered and self.window_manager.get("setup") is not None):
            return  # the first-run window, open or maybe about to be, says it and what to do
        title = f"cannot reach {down[0].target.label}" if len(down) == 1 else "cannot reach its model servers"
        body = "\n".join(s.message for s in down) or str(self.health.error)
        self.notifier.show(Notice(f"Heartbeat Desktop {title}", body, critical=True, alone=True, key="health"))

    def live_status(self) -> dict[str, object]:
        """The STATUS verb's answer (`heartbeat-desktop status`, the API's status): the app's own view, not
        the CLI's. The scheduler's part is `core.present.scheduler_status`. Reads only published Python state
        (no Qt call), so the API may ask from its server threads."""
        return {
            "pid": os.getpid(),
            # for a long-running app's health (the endurance benchmark reads it): None's reference count
            # falls with every call of a binding that leaks it, and the process dies when it reaches zero
            "none_refcount": sys.getrefcount(None),
            "true_refcount": sys.getrefcount(True),  # 6.12.0 also dropped one on every emit and disconnect
            "ollama_host": self.health.ollama_url,  # None when no thread uses the app's Ollama
            "server_problem": self.tray.error,
            "model_servers": [server.to_dict() for server in self.health.servers.values()],
            "local_api": self.local_api.describe(),
            **scheduler_status(self.scheduler.state),
        }
