"""Tray and window icons, drawn as SVG in `resources/icons/` so they stay crisp at any scale."""

from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

from .. import paths


class TrayState(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    ERROR = "error"


def icon_path(name: str) -> Path:
    return paths.bundled(f"resources/icons/{name}.svg")


@cache
def state_icon(state: TrayState) -> QIcon:
    icon = QIcon(str(icon_path(f"tray-{state.value}")))
    if icon.isNull():  # a broken install must still show *something* in the tray
        icon = QIcon.fromTheme("dialog-information")
    return icon


@cache
def app_icon() -> QIcon:
    return QIcon(str(icon_path("app")))
