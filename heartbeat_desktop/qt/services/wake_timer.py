"""One single-shot wake-up at a wall-clock time: the only timer the scheduler owns.

Two implementations behind one small interface:

- `TimerFdWakeTimer` (Linux): a `timerfd` on CLOCK_REALTIME armed with an *absolute* expiry and
  TFD_TIMER_CANCEL_ON_SET, watched by a QSocketNotifier. The kernel fires it when the wall clock reaches
  the due time — also right after a resume from suspend, when a monotonic timer would still be counting —
  and wakes it early (ECANCELED) when the clock is set, so the scheduler can re-plan. Nothing polls.
- `QtWakeTimer` (elsewhere, and with an injected test clock): a precise single-shot QTimer for
  `due - clock()`. Qt's timers run on the monotonic clock, so after a suspend it fires late; the
  scheduler also re-plans on `clock_jumped()`, which callers (and tests) can signal.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QSocketNotifier, Qt, QTimer, Signal, SignalInstance

from ...core.clock import ScaledClock

log = logging.getLogger(__name__)

MAX_QTIMER_MS = 2**31 - 1


class WakeTimer(Protocol):
    """Emits `fired` once at (or right after) the armed wall-clock time; `clock_changed` on a jump."""

    fired: SignalInstance
    clock_changed: SignalInstance

    def arm_at(self, wall_ts: float) -> None: ...

    def disarm(self) -> None: ...

    def close(self) -> None: ...


class QtWakeTimer(QObject):
    fired = Signal()
    clock_changed = Signal()

    def __init__(self, clock: Callable[[], float] = time.time, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.fired)

    def arm_at(self, wall_ts: float) -> None:
        wait = wall_ts - self._clock()
        if isinstance(self._clock, ScaledClock):  # a simulated clock: its seconds pass faster
            wait = self._clock.real_seconds(wait)
        delay_ms = max(0, min(MAX_QTIMER_MS, int(wait * 1000) + 1))
        self._timer.start(delay_ms)

    def disarm(self) -> None:
        self._timer.stop()

    def close(self) -> None:
        self._timer.stop()

    @property
    def remaining_ms(self) -> int:
        return self._timer.remainingTime() if self._timer.isActive() else -1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_REALTIME = 0
_TFD_NONBLOCK = os.O_NONBLOCK if sys.platform.startswith("linux") else 0
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_TFD_TIMER_CANCEL_ON_SET = 2


class TimerFdWakeTimer(QObject):
    fired = Signal()
    clock_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(_CLOCK_REALTIME, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._armed_at: float | None = None
        self._notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_readable)

    @staticmethod
    def available() -> bool:
        if not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.timerfd_create(_CLOCK_REALTIME, _TFD_NONBLOCK | _TFD_CLOEXEC)
        except (OSError, AttributeError):
            return False
        if fd < 0:
            return False
        os.close(fd)
        return True

    def _settime(self, wall_ts: float | None) -> None:
        spec = _Itimerspec()
        if wall_ts is not None:
            wall_ts = max(wall_ts, 1e-3)  # an all-zero value would disarm instead of firing at once
            spec.it_value.tv_sec = int(wall_ts)
            spec.it_value.tv_nsec = int((wall_ts - int(wall_ts)) * 1e9)
        flags = _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET
        for _ in range(2):  # a pending clock change makes settime fail once with ECANCELED (and re-arm)
            if self._libc.timerfd_settime(self._fd, flags, ctypes.byref(spec), None) == 0:
                return
            err = ctypes.get_errno()
            if err != errno.ECANCELED:
                raise OSError(err, os.strerror(err))

    def arm_at(self, wall_ts: float) -> None:
        self._armed_at = wall_ts
        self._settime(wall_ts)

    def disarm(self) -> None:
        self._armed_at = None
        self._settime(None)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 8)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                log.info("Wall clock changed (set, or resumed from suspend); re-planning")
                # Re-arm for the same time so the next change is noticed too, then let the scheduler re-plan.
                if self._armed_at is not None:
                    self._settime(self._armed_at)
                self.clock_changed.emit()
                return
            raise
        if struct.unpack("Q", data)[0]:
            self._armed_at = None
            self.fired.emit()

    def close(self) -> None:
        self._notifier.setEnabled(False)
        try:
            os.close(self._fd)
        except OSError:
            pass


def make_wake_timer(clock: Callable[[], float] | None = None, parent: QObject | None = None) -> WakeTimer:
    """The best timer for this platform; an injected clock (tests) always gets the QTimer one."""
    if clock is None and TimerFdWakeTimer.available():
        return TimerFdWakeTimer(parent)
    return QtWakeTimer(clock or time.time, parent)
