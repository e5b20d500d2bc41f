import time

import pytest

from heartbeat_desktop.qt.services.wake_timer import QtWakeTimer, TimerFdWakeTimer, make_wake_timer

linux_only = pytest.mark.skipif(not TimerFdWakeTimer.available(), reason="timerfd is Linux-only")


@linux_only
def test_timerfd_fires_at_the_wall_clock_time(qtbot) -> None:
    timer = TimerFdWakeTimer()
    target = time.time() + 0.3
    with qtbot.waitSignal(timer.fired, timeout=3000):
        timer.arm_at(target)
    assert time.time() >= target
    timer.close()


@linux_only
def test_timerfd_in_the_past_fires_at_once_and_disarm_silences(qtbot) -> None:
    timer = TimerFdWakeTimer()
    with qtbot.waitSignal(timer.fired, timeout=1000):
        timer.arm_at(time.time() - 3600)
    timer.arm_at(time.time() + 0.2)
    timer.disarm()
    with qtbot.assertNotEmitted(timer.fired, wait=600):
        pass
    timer.close()


def test_real_clock_gets_timerfd_and_injected_clock_gets_qtimer(qtbot) -> None:
    fake = make_wake_timer(lambda: 1000.0)
    assert isinstance(fake, QtWakeTimer)
    fake.arm_at(1000.0 + 3600)
    assert 3_590_000 < fake.remaining_ms <= 3_600_001
    real = make_wake_timer()
    assert isinstance(real, TimerFdWakeTimer if TimerFdWakeTimer.available() else QtWakeTimer)
    real.close()
