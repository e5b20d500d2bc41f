"""The window registry: how each window of `window_names.WINDOWS` is made, from the parts of the app it needs.

Each window's module is imported when it is first opened: the tray alone does not pay for charts, editors and
dialogs. `WindowManager` (qt/window_manager.py) calls these factories and owns the windows they make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from ... import paths
from ...store import SqliteStore
from .window_state import WindowMemory

if TYPE_CHECKING:
    from ...core.runner import HeartbeatRunner
    from ..services.scheduler import HeartbeatScheduler


@dataclass(frozen=True)
class WindowParts:
    """What the windows are given (passed in, never reached through the app)."""

    store: Callable[[], SqliteStore]  # the GUI thread's connection
    memory: WindowMemory
    data_dir: Path
    scheduler: HeartbeatScheduler
    thread_choices: Callable[[], list[tuple[str, str]]]
    make_runner: Callable[[SqliteStore], HeartbeatRunner]
    autostart_enabled: Callable[[], bool]
    set_autostart: Callable[[bool], None]
    settings_applied: Callable[[], None]


def window_factories(parts: WindowParts) -> dict[str, Callable[[], QWidget]]:
    return {
        "history": lambda: _history(parts),
        "feed": lambda: _feed(parts),
        "threads": lambda: _threads(parts),
        "editor": lambda: _editor(parts),
        "settings": lambda: _settings(parts),
        "setup": lambda: _setup(parts),
    }


def _feed(parts: WindowParts) -> QWidget:
    from .feed_window import FeedWindow

    window = FeedWindow(parts.store(), parts.memory, on_change=lambda: None, db_path=paths.db_file(parts.data_dir))
    parts.scheduler.run_finished.connect(window.on_run_finished)  # dropped by Qt when the window is deleted
    return window


def _threads(parts: WindowParts) -> QWidget:
    from .threads_window import ThreadsWindow

    return ThreadsWindow(parts.store(), parts.memory, on_change=parts.scheduler.reload)


def _editor(parts: WindowParts) -> QWidget:
    from .editor_window import EditorWindow

    # Never created here: a HEARTBEAT.md deleted after the first start is shown missing, with "Create it from
    # the template" (editor_file.py), not silently replaced.
    heartbeat_md = parts.data_dir / "HEARTBEAT.md"
    return EditorWindow(
        heartbeat_md, paths.db_file(parts.data_dir), parts.memory, parts.thread_choices, parts.make_runner
    )


def _settings(parts: WindowParts) -> QWidget:
    from .settings_dialog import SettingsDialog

    return SettingsDialog(
        parts.store(),
        parts.memory,
        autostart_enabled=parts.autostart_enabled,
        set_autostart=parts.set_autostart,
        on_applied=parts.settings_applied,
        data_dir=parts.data_dir,
    )


def _setup(parts: WindowParts) -> QWidget:
    from .setup_window import SetupWindow

    return SetupWindow(
        parts.store, paths.db_file(parts.data_dir), parts.memory, parts.make_runner, parts.settings_applied
    )


def _history(parts: WindowParts) -> QWidget:
    from .history_window import HistoryWindow

    window = HistoryWindow(parts.store(), paths.db_file(parts.data_dir), parts.memory, parts.thread_choices)
    # A bound slot of the window: Qt drops the connection when the closed window is deleted.
    parts.scheduler.run_finished.connect(window.on_run_finished)
    return window
