"""Windows remember their size and position (per data dir), in a small INI file beside the database."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget


class WindowMemory:
    def __init__(self, data_dir: Path) -> None:
        self._settings = QSettings(str(data_dir / "windows.ini"), QSettings.Format.IniFormat)

    def restore(self, window: QWidget, key: str) -> bool:
        geometry = self._settings.value(f"{key}/geometry")
        if geometry is None:
            return False
        return bool(window.restoreGeometry(geometry))

    def save(self, window: QWidget, key: str) -> None:
        self._settings.setValue(f"{key}/geometry", window.saveGeometry())
        self._settings.sync()
