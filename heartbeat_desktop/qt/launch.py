"""Starting the tray app: the checks that must pass before anything is built, then the event loop.

Apart from `TrayApp` so that what can stop a start — a database that will not open, another app already
on this data directory — is read in one place, and what the app does once it runs in another.

The order is what the user sees first (issue #23: the tray within 400 ms of launch): the instance lock (a
file lock, no imports), then the tray icon itself, and only then the rest of the app — pydantic, the store,
the scheduler, the windows' parts — which `TrayApp` imports and builds while the icon already shows
"starting…". `TrayApp` adopts that icon; nothing is drawn twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from .. import __version__, paths
from ..autostart import APP_ID, AT_LOGIN_TRAY_WAIT_S, Autostart
from ..instance_lock import InstanceLock, LockUnusable
from ..instance_socket import server_name, show_running_app
from ..x_display import display_problem, uses_x11
from .combo_keys import guard_combo_key_search
from .icons import app_icon
from .services.process import tune_gil_for_gui

log = logging.getLogger(__name__)


def database_problem(data_dir: Path) -> str | None:
    """Open the database once before anything else does: None if it is usable, else what to tell the user.
    Nothing is written to a file that cannot be opened: it is left as it is for the user to inspect."""
    from .. import wiring
    from ..core.ports import StoreError

    try:
        with contextlib.closing(wiring.open_store(data_dir)):
            return None
    except (StoreError, OSError) as exc:
        if not os.access(data_dir, os.W_OK):
            # Moving the file aside would not help: the app needs to write beside it (its journal, its plan).
            return (
                f"{exc}. The data folder {data_dir} cannot be written to (read-only, or owned by another user); "
                "the tray app needs to write there. The command line still reads it: heartbeat-desktop status"
            )
        return (
            f"{exc}. The file was left as it is. Move it aside to start with an empty database, or restore a "
            "backup; `heartbeat-desktop status` says the same from a terminal."
        )


def show_fatal(title: str, text: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, text)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.exec()


def _cannot_start(problem: str) -> int:
    log.error("Cannot start: %s", problem)
    print(f"heartbeat-desktop: {problem}", file=sys.stderr)
    show_fatal("Heartbeat Desktop cannot start", problem)
    return 1


def early_tray_icon() -> QSystemTrayIcon | None:
    """The icon the user waits for, shown before the rest of the app is even imported; None without a tray
    (TrayApp then waits for one, and falls back to its window). Its tooltip says the app is starting; it
    has no menu until `TrayApp` adopts it, a fraction of a second later."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    icon = QSystemTrayIcon(app_icon())
    icon.setToolTip("Heartbeat Desktop — starting…")
    icon.show()
    log.info("Tray icon shown (starting)")
    return icon


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, named as the desktop knows it. On X11 a window's WM_CLASS instance is argv[0]'s
    base name, which for `python -m heartbeat_desktop` (Start at login, `open`) is "__main__.py": the dock
    then matches no desktop file. argv[0] is the app's id instead, as the desktop files' StartupWMClass says."""
    app = QApplication.instance() or QApplication([APP_ID, *(argv or sys.argv)[1:]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Heartbeat Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    guard_combo_key_search(app)
    return app


def run_tray(argv: list[str] | None = None, open_window: str | None = None) -> int:
    data_dir = paths.data_dir()
    if QApplication.instance() is None and uses_x11(os.environ):
        # Qt would abort (SIGABRT) on an X server that does not answer, advising to install xcb-cursor0.
        unreachable = display_problem(os.environ)
        if unreachable is not None:
            log.info("Cannot start: %s", unreachable)  # the line below says it; logged once, not twice
            print(f"heartbeat-desktop: {unreachable}", file=sys.stderr)
            return 1
    app = make_application(argv)
    tune_gil_for_gui()
    # The command line asked a running app to show itself before loading Qt (cli.app.start_tray); the lock
    # decides the race of two launches at once (instance_lock.py), before anything is shown.
    lock = InstanceLock(data_dir)
    try:
        mine = lock.acquire(server_name(data_dir, recorded=False))
    except LockUnusable as exc:  # not another app: a lock file that cannot be opened (a directory, a link)
        return _cannot_start(str(exc))
    if not mine:
        return _show_the_other(data_dir, open_window)
    icon = early_tray_icon()
    problem = database_problem(data_dir)
    if problem is not None:
        # The scheduler's thread would otherwise die on it and take the process down (SIGABRT,
        # "QThread destroyed while running") with no word to the user.
        if icon is not None:
            icon.hide()
        lock.release()
        return _cannot_start(problem)
    from .app import TrayApp

    wait = os.environ.get("HEARTBEAT_TRAY_WAIT")
    tray_app = TrayApp(app, data_dir, tray_wait_s=float(wait) if wait else None, lock=lock, icon=icon)
    if not tray_app.start():
        if tray_app.instance.lock_error is not None:
            return _cannot_start(tray_app.instance.lock_error)
        return _show_the_other(data_dir, open_window)
    if open_window:
        tray_app.open_window(open_window)
    threading.Thread(target=_upgrade_autostart, args=(tray_app.autostart,), name="autostart", daemon=True).start()
    return app.exec()


def _upgrade_autostart(autostart: Autostart) -> None:
    """A Start at login entry from before the wait for a late tray gets it (off the GUI thread: a file)."""
    try:
        if autostart.add_tray_wait():
            log.info("Start at login now waits up to %d s for the tray", AT_LOGIN_TRAY_WAIT_S)
    except OSError as exc:
        log.warning("Could not update the Start at login entry %s: %s", autostart.path, exc)


def _show_the_other(data_dir: Path, open_window: str | None) -> int:
    """Two launches at once (login and a click): the other took the lock first and may still be starting."""
    for _ in range(40):
        try:
            if show_running_app(data_dir, open_window):
                return 0
        except (ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    # Its lock is held, so it runs, but its socket did not answer in 10 s (its folder was removed and it
    # re-creates the socket within 30 s, or it is stuck): the window asked for was not shown.
    print(
        "Heartbeat Desktop is already running but did not answer; nothing was shown. Try again in 30 s.",
        file=sys.stderr,
    )
    return 1
