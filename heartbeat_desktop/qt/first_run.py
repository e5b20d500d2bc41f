"""Offering the first-run window at a start: once, and only when it is needed.

At a start the app asks, on a background task (a database read and a short look at the configured model
server, `first_run.needs_setup`), whether setup was ever completed or dismissed and whether the model a
thread would use is there. When it is not, the setup window opens and stands in for the "cannot reach
Ollama" notification (the icon still says what is wrong). The tray is up and usable all the while.

`HEARTBEAT_FIRST_RUN=off` never offers it at a start (the test suite, a scripted install that configures
the model itself); the menu's *Set up…* and `heartbeat-desktop open setup` still show it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .services.tasks import Tasks

log = logging.getLogger(__name__)

ENV = "HEARTBEAT_FIRST_RUN"


def offered_at_start(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    return value not in ("0", "off", "no", "false")


class FirstRunOffer(QObject):
    """`open_setup` shows the window; `withdraw_notice` takes back the "cannot reach" notification it stands
    in for. The app holds that notification until `decided` (`checked` is then true), so it is not shown
    first and taken back a moment later."""

    decided = Signal()

    def __init__(
        self,
        data_dir: Path,
        open_setup: Callable[[], object],
        withdraw_notice: Callable[[], None],
        closed: Callable[[], None] = lambda: None,
        parent: QObject | None = None,
    ) -> None:
        """`closed`: the window it opened was closed — the notification it stood in for is due now if the
        server is still down (the health state did not change, so nothing else would say it)."""
        super().__init__(parent)
        self._data_dir = data_dir
        self._open_setup = open_setup
        self._withdraw_notice = withdraw_notice
        self._closed = closed
        self._tasks = Tasks(self)
        self.offered = False  # the window was opened by this check (for the app's notifications and tests)
        self.checked = False

    def check(self) -> None:
        """Decide off the GUI thread; open the window when it is needed."""
        if not offered_at_start():
            self.checked = True
            self.decided.emit()
            return
        data_dir = self._data_dir

        def work(_task: object) -> bool:
            from .. import first_run

            return first_run.needs_setup(data_dir)

        self._tasks.start(work, self._decided, self._failed)

    def _decided(self, needed: object) -> None:
        self.checked = True
        if needed:
            log.info("No working model is configured and setup was never done: showing the first-run window")
            self.offered = True
            self._withdraw_notice()
            window = self._open_setup()
            if isinstance(window, QObject):
                window.destroyed.connect(lambda *_: self._closed())
        self.decided.emit()

    def _failed(self, message: str) -> None:
        self.checked = True
        log.warning("Could not tell whether to offer setup: %s", message)
        self.decided.emit()
