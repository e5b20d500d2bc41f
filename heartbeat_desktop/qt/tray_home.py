"""Where the user finds the running app: the tray icon while there is a tray, the fallback window while there is
none — at start (no tray yet, or none on this desktop) and after a tray that was there went away (the panel
crashed or restarts). `TrayWait` (tray_wait.py) decides when; this swaps the two, never with a dialog."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from ..core.scheduler_state import SchedulerState
from .tray import TrayController
from .tray_menu import TrayActions

if TYPE_CHECKING:  # imported when first shown: a desktop with a tray never loads it (issue #17)
    from .windows.fallback_window import FallbackWindow

log = logging.getLogger(__name__)


class TrayHome(QObject):
    def __init__(
        self,
        tray: TrayController,
        actions: TrayActions,
        state: Callable[[], SchedulerState],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._actions = actions
        self._state = state
        self.window: FallbackWindow | None = None
        self._had_tray = False  # a tray was there once: a window now means it went away

    @Slot()
    def tray_found(self) -> None:
        """A tray is there (at once, late — the panel came after us at login — or back after it went): the icon,
        and no fallback window."""
        shown_early = self._tray.icon.isVisible()  # by the launch, while the rest was imported
        if self._had_tray:  # back after it went: the icon was registered with the tray that is gone
            self._tray.icon.hide()
        self._tray.icon.show()
        self._had_tray = True
        log.info("Tray ready" if shown_early else "Tray icon shown")
        if self.window is not None:  # put away without a word: the icon is where the user looks now
            self.window.hide()
            self.window.deleteLater()
            self.window = None
            log.info("Fallback window put away: the tray is there now")

    @Slot()
    def tray_missing(self) -> None:
        """No tray (yet, or any more): the window with the tray's controls, so the user keeps a way in."""
        from .windows.fallback_window import FallbackWindow

        if self.window is None:
            self.window = FallbackWindow(self._actions, tray_lost=self._had_tray)
        self.window.update_state(self._state(), self._tray.error)
        self.window.show()

    def update(self, state: SchedulerState, error: str | None) -> None:
        if self.window is not None:
            self.window.update_state(state, error)

    def raise_window(self) -> bool:
        """Bring the fallback window forward (a second launch); False when the tray is where the app lives."""
        if self.window is None:
            return False
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        return True
