"""The launch path (qt/launch.py): the tray icon first, the rest of the app after it (issue #23 item 9)."""

from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon

from heartbeat_desktop.qt.icons import app_icon
from heartbeat_desktop.qt.tray import TrayController
from tests.qt.test_tray import _menu
from tests.support.imports import loaded_by


def test_what_the_launch_loads_before_the_icon_shows_is_qt_and_the_lock_only() -> None:
    """Everything `run_tray` imports before it shows the icon: no pydantic, no store, no wiring, no TrayApp.
    Each of them once sat on this path and put the icon hundreds of milliseconds later."""
    late = (
        "pydantic", "heartbeat_desktop.store", "heartbeat_desktop.wiring", "heartbeat_desktop.qt.app",
        "heartbeat_desktop.core.config", "heartbeat_desktop.qt.services.scheduler", "sqlite3",
    )  # fmt: skip
    assert loaded_by("heartbeat_desktop.cli, heartbeat_desktop.qt.launch", late) == []


def test_the_tray_adopts_the_icon_the_launch_showed(qtbot) -> None:
    """The icon shown while starting is the one the app keeps: its menu and state tooltip arrive on it, and
    it belongs to the tray controller from then on (freed with it, never a second icon beside it)."""
    early = QSystemTrayIcon(app_icon())
    early.setToolTip("Heartbeat Desktop — starting…")
    menu = _menu([])
    controller = TrayController(menu, icon=early)
    assert controller.icon is early
    assert early.contextMenu() is menu
    assert early.parent() is controller
    assert "starting" not in early.toolTip() and early.toolTip().startswith("Heartbeat Desktop")
