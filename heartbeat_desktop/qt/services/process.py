"""Clean process life: Unix signals without a polling timer, and no exception dies silently.

`signal.set_wakeup_fd` makes Python write a byte to a socket when SIGTERM/SIGINT arrives; a
QSocketNotifier on the other end wakes the event loop, which then quits cleanly. No timer runs to let
Python's signal handlers fire, so idle wake-ups stay at zero.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QObject, QSocketNotifier

log = logging.getLogger(__name__)


class SignalWatcher(QObject):
    def __init__(self, on_signal: Callable[[int], None], signals: tuple[int, ...] = (), parent: QObject | None = None):
        super().__init__(parent)
        self._on_signal = on_signal
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        wanted = signals or tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s)
        for sig in wanted:
            # The Python-level handler only has to exist; the wake-up byte carries the signal number.
            signal.signal(sig, lambda *_: None)

    def _drain(self) -> None:
        try:
            data = self._read.recv(64)
        except BlockingIOError:
            return
        for signum in data:
            log.info("Received signal %d; quitting", signum)
            self._on_signal(signum)

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._read.close()
        self._write.close()


GUI_SWITCH_INTERVAL_S = 0.001


def tune_gil_for_gui() -> None:
    """Hand the GIL over every 1 ms instead of 5 ms.

    Heartbeat runs are Python threads; while several are busy, the GUI thread otherwise waits up to one
    switch interval per busy thread for its turn, which shows as 10–20 ms stalls (measured by
    benchmarks/gui_stall.py). The cost is a few more switches only while runs are busy.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)


def install_excepthook(show: Callable[[str, str], None]) -> None:
    """Exceptions escaping a Qt slot reach sys.excepthook: log them and tell the user; keep running."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.error("Unhandled error: %s", "".join(traceback.format_exception(kind, value, tb)))
        try:
            show("Heartbeat Desktop hit an internal error", f"{kind.__name__}: {value} (details in the log)")
        except Exception:
            log.exception("Could not show the error")

    sys.excepthook = hook
