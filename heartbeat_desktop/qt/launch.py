"""Starting the tray app: the checks that must pass before anything is built, then the event loop.

Apart from `TrayApp` so that what can stop a start — a database that will not open, another app already
on this data directory — is read in one place, and what the app does once it runs in another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from .. import __version__, paths, wiring
from ..core.ports import StoreError
from ..instance_socket import show_running_app
from .app import TrayApp
from .icons import app_icon
from .services.process import tune_gil_for_gui

log = logging.getLogger(__name__)


def database_problem(data_dir: Path) -> str | None:
    """Open the database once before anything else does: None if it is usable, else what to tell the user.
    Nothing is written to a file that cannot be opened: it is left as it is for the user to inspect."""
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


def run_tray(argv: list[str] | None = None, open_window: str | None = None) -> int:
    data_dir = paths.data_dir()
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Heartbeat Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("heartbeat-desktop")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)
    tune_gil_for_gui()
    # The command line asked a running app to show itself before loading Qt (cli.app.start_tray).
    problem = database_problem(data_dir)
    if problem is not None:
        # The scheduler's thread would otherwise die on it and take the process down (SIGABRT,
        # "QThread destroyed while running") with no word to the user.
        return _cannot_start(problem)
    wait = os.environ.get("HEARTBEAT_TRAY_WAIT")
    tray_app = TrayApp(app, data_dir, tray_wait_s=float(wait) if wait else None)
    if not tray_app.start():
        if tray_app.instance.lock_error is not None:
            return _cannot_start(tray_app.instance.lock_error)
        # Two launches at once (login and a click): the other took the lock first and may still be starting.
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
    if open_window:
        tray_app.open_window(open_window)
    return app.exec()
