"""The Qt calls a heartbeat makes leave None's reference count (and a small int's) as they found it.

Why: PySide6-Essentials 6.12.0 lowers None's reference count by one on every Qt call that returns nothing
(`setText`, `setToolTip`, `clear`, `addItem`, `QComboBox.currentData()` on an empty combo…). On Python
3.11 None is an ordinary object: when its count reaches zero the interpreter aborts with "Fatal Python
error: none_dealloc", so the tray app dies after some days of heartbeats. pyproject.toml keeps 6.12 off
Python < 3.12 and packaging/build.py refuses to bundle a binding that leaks; this test is the proof behind
both, and the way to lift the cap: run it against the new release.

What is measured: `sys.getrefcount` of None, of True and False (6.12.0's `Signal.emit` and `disconnect`
lower True's count the same way, and True starts near 600, not 5,000) and of a small int (2: the fallback
window's `findData` returns it and `setCurrentIndex` takes it for the third thread; 6.12.0 leaves ints
alone) before and after 10,000 calls, with `gc.collect()` around. A sound binding moves them by a few
(caches); a leaking call moves one by 10,000.
Two shapes: the app's own per-heartbeat update path (what `TrayApp._on_state` and `_on_run_finished` call:
the tray icon, its tooltip and menu, the no-tray fallback window, the notifier's balloon path), and each Qt
call those make, one by one, so a failure names the call. `core/present.py` makes no Qt call (the core
imports no Qt). The leak sits where Python calls into Qt, so windows need not be shown or painted.

From Python 3.12 None, True, False and small ints are immortal (PEP 683): their counts mean nothing and cannot fall,
so the test is skipped there.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import sys
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtNetwork import QLocalServer
from PySide6.QtWidgets import QApplication, QComboBox, QMenu, QPushButton, QSystemTrayIcon

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.notify import Notice, notice_for
from heartbeat_desktop.core.scheduler_state import SchedulerState, ThreadSchedule
from heartbeat_desktop.qt.icons import TrayState, state_icon
from heartbeat_desktop.qt.plain_text import plain_label
from heartbeat_desktop.qt.services.notifications import Notifier
from heartbeat_desktop.qt.tray import TrayController
from heartbeat_desktop.qt.tray_menu import TrayActions, TrayMenu
from heartbeat_desktop.qt.windows.fallback_window import FallbackWindow

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None, the bools and small ints are immortal from Python 3.12 (PEP 683)"
)

CALLS = 10_000  # a leaking call then moves a count by ~10,000: far beyond the slack
SLACK = 50  # what caches (Qt's, functools', the interpreter's) may hold or let go of
THREADS = 3  # enough for every per-thread call; more only costs time (the tooltip's strftime, mostly)
SMALL_INT = THREADS - 1  # the last thread's index in the fallback window: findData returns it, setCurrentIndex takes it
# None, the bools (6.12.0's Signal.emit and disconnect lower True's count the same way) and the small int.
WATCHED: tuple[object, ...] = (None, True, False, SMALL_INT)
WARM_UP = 20
# References added for the rest of the process (see _keep_alive): more than every call in this file could
# take on a binding that leaks (~35 per heartbeat of the path test, one per single call).
BALLAST = 10_000_000


def _add_references(obj: object, count: int) -> None:
    """Raise obj's reference count by `count` without holding anything (CPython: the count is the first field
    of the object's header, at its id())."""
    ctypes.c_ssize_t.from_address(id(obj)).value += count


@pytest.fixture(scope="module", autouse=True)
def _keep_alive() -> None:
    """None's count is ~5,000 at start and True's ~600: the first leaking calls would abort the whole pytest
    process (none_dealloc, bool_dealloc) instead of failing these tests with the numbers. So each watched
    object gets BALLAST more references for the rest of the process (taken back at the end, they would take a
    leaked count to zero at exit; nothing is freed either way: these objects are never freed)."""
    for obj in WATCHED:
        _add_references(obj, BALLAST)


def _counts() -> list[int]:
    gc.collect()
    return [sys.getrefcount(obj) for obj in WATCHED]


def _assert_unchanged(what: str, call: Callable[[], object], times: int = CALLS) -> None:
    for _ in range(WARM_UP):  # fills the caches a first call fills (icons, fonts, interned strings)
        call()
    before = _counts()
    for _ in range(times):
        call()
    after = _counts()
    deltas = ", ".join(f"{obj!r} {a - b:+,}" for obj, b, a in zip(WATCHED, before, after, strict=True))
    print(f"{times:,} × {what}: {deltas}")  # pytest -rP shows them: the figures for lifting the pin
    changed = [
        f"{obj!r}: {b:,} → {a:,} ({a - b:+,})"
        for obj, b, a in zip(WATCHED, before, after, strict=True)
        if abs(a - b) >= SLACK
    ]
    assert not changed, (
        f"{times:,} × {what} changed the reference count of " + ", ".join(changed) + "; on Python 3.11 the app "
        "aborts (none_dealloc, bool_dealloc) when one reaches zero (see pyproject.toml's PySide6 pin)"
    )


def _actions() -> TrayActions:
    return TrayActions(
        run_now=lambda _tid: None,
        toggle_pause=lambda: None,
        windows={"history": lambda: None, "feed": lambda: None},
        autostart_enabled=lambda: False,
        set_autostart=lambda _on: None,
        quit_app=lambda: None,
    )


def _thread(i: int, **kw: object) -> ThreadSchedule:
    base: dict = dict(
        thread_id=f"thread-{i}",
        title=f"Thread {i}",
        enabled=True,
        paused=False,
        next_due=2_000_000_000.0 + 1800 * i,
        running=False,
        queued=False,
        last_status="ok",
        last_reason=None,
        last_run_at=1_999_990_000.0,
        consecutive_failures=0,
    )
    base.update(kw)
    return ThreadSchedule(**base)


def _heartbeat(k: int, failed: bool) -> tuple[SchedulerState, RunRecord, SchedulerState]:
    """Thread k's heartbeat as the scheduler publishes it: the state while it runs, its finished run (a post
    or a failure, whose reason quotes the server), the state after it."""
    idle = [_thread(i) for i in range(THREADS)]
    running = SchedulerState(True, False, tuple(_thread(i, running=True) if i == k else t for i, t in enumerate(idle)))
    tid = f"thread-{k}"
    if failed:
        run = RunRecord(
            id=f"run-{k}-f",
            thread_id=tid,
            trigger="schedule",
            dry_run=False,
            started_at=1_999_999_000.0,
            status="failed",
            reason="HTTP 500 from the model server: <b>out of memory</b>",
            error_kind="http_error",
        )
        after = _thread(k, last_status="failed", last_reason=run.reason, consecutive_failures=1, backing_off=True)
    else:
        run = RunRecord(
            id=f"run-{k}-p",
            thread_id=tid,
            trigger="schedule",
            dry_run=False,
            started_at=1_999_999_000.0,
            status="ok",
            decision={"action": "post", "title": "Open questions", "content": "Two questions are still open."},
            action_result={"post_id": 40 + k},
        )
        after = _thread(k, last_status="ok")
    finished = SchedulerState(True, False, tuple(after if i == k else t for i, t in enumerate(idle)))
    return running, run, finished


@pytest.fixture
def balloons(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offscreen Qt has no balloons; the app's path past `supportsMessages()` (to `showMessage`) is what is
    measured here. The real `supportsMessages` is measured on its own below."""
    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))


def test_heartbeats_through_the_tray_menu_fallback_window_and_notifications(qapp: QApplication, balloons: None) -> None:
    """10,000 heartbeats, each through what the app does with it: `TrayApp._on_state` (the tray's icon,
    tooltip and menu, the fallback window) for the state while it runs and after it, and `_on_run_finished`'s
    notice (`Notifier.show`: the balloon path; failures through the hold timer, which the event loop fires).
    Threads take turns and posts alternate with failures, so every heartbeat changes what is shown and each
    call is made (`TrayController.refresh` touches Qt only for what changed)."""
    menu = TrayMenu(_actions())
    tray = TrayController(menu)
    fallback = FallbackWindow(_actions())
    notifier = Notifier(tray.icon, use_dbus=False, hold_ms=0)
    config = HeartbeatConfig()
    beats = [_heartbeat(k, failed) for failed in (False, True) for k in range(THREADS)]
    fallback.update_state(beats[-1][2], None)
    fallback.threads.setCurrentIndex(SMALL_INT)  # the last thread chosen: findData and setCurrentIndex say 2
    shown = [0]
    notifier.shown.connect(lambda _notice: shown.__setitem__(0, shown[0] + 1))
    turns = itertools.cycle(beats)

    def heartbeat() -> None:
        running, run, finished = next(turns)
        for state in (running, finished):  # TrayApp._on_state
            tray.update(state)
            fallback.update_state(state, tray.error)
        notice = notice_for(run, config, run.thread_id)  # TrayApp._on_run_finished
        assert notice is not None
        notifier.show(notice)
        qapp.processEvents()  # between heartbeats the event loop runs: the failure hold timer fires

    try:
        _assert_unchanged("heartbeat (tray, menu, fallback window, notification)", heartbeat)
        assert fallback.threads.currentIndex() == SMALL_INT and shown[0] == WARM_UP + CALLS  # each notice shown
    finally:
        notifier.close()
        fallback.deleteLater()
        menu.deleteLater()
        tray.icon.deleteLater()


def _combo(items: int) -> QComboBox:
    combo = QComboBox()
    for i in range(items):
        combo.addItem(f"Thread {i}", f"thread-{i}")
    return combo


def _connect_and_disconnect() -> Callable[[], object]:
    action = QAction("Thread 0")

    def slot(_checked: bool = False) -> None:
        pass

    def call() -> None:
        action.triggered.connect(slot)
        action.triggered.disconnect(slot)

    return call


def _timer_start() -> Callable[[], object]:
    timer = QTimer()
    timer.setSingleShot(True)
    return partial(timer.start, 60_000)


def _emit() -> Callable[[], object]:
    notifier = Notifier(None, use_dbus=False)
    notice = Notice("Heartbeat failed in Work", "HTTP 500", critical=True, thread_id="work")
    return partial(notifier.shown.emit, notice)


def _local_server() -> Callable[[], object]:
    return QLocalServer().isListening


# Every Qt call the tray, its menu, the fallback window and the notifications make for a heartbeat (and the
# app around them), one by one. The builders make the objects once; what is timed is the call they return.
SINGLE_CALLS: dict[str, Callable[[], Callable[[], object]]] = {
    # qt/tray.py TrayController.refresh
    "tray QSystemTrayIcon.setIcon": lambda: partial(QSystemTrayIcon().setIcon, state_icon(TrayState.RUNNING)),
    "tray QSystemTrayIcon.toolTip": lambda: QSystemTrayIcon().toolTip,
    "tray QSystemTrayIcon.setToolTip": lambda: partial(QSystemTrayIcon().setToolTip, "Heartbeat Desktop — idle"),
    # qt/tray_menu.py TrayMenu.update_state (and _sync_autostart when the menu opens)
    "menu QAction.setText": lambda: partial(QAction().setText, "Next heartbeat at 17:30"),
    "menu QFontMetrics.elidedText": lambda: partial(
        QMenu().fontMetrics().elidedText, "Last heartbeat failed: Work", Qt.TextElideMode.ElideRight, 200
    ),
    "menu QMenu.clear": lambda: QMenu().clear,
    "menu QMenu.addAction": lambda: partial(QMenu().addAction, "Thread 0 — running…"),
    "menu QAction.setEnabled": lambda: partial(QAction().setEnabled, False),
    "menu QAction.triggered.connect/disconnect": _connect_and_disconnect,
    "menu QMenu.setEnabled": lambda: partial(QMenu().setEnabled, True),
    "menu QAction.blockSignals": lambda: partial(QAction().blockSignals, False),
    "menu QAction.setChecked": lambda: partial(QAction(checkable=True).setChecked, False),
    # qt/windows/fallback_window.py FallbackWindow.update_state
    "fallback QLabel.setText": lambda: partial(plain_label().setText, "Next heartbeat at 17:30"),
    "fallback QPushButton.setText": lambda: partial(QPushButton().setText, "&Pause"),
    "fallback QComboBox.currentData, empty": lambda: _combo(0).currentData,
    "fallback QComboBox.currentData": lambda: _combo(THREADS).currentData,
    "fallback QComboBox.clear": lambda: _combo(0).clear,
    "fallback QComboBox.addItem": lambda: partial(_combo(0).addItem, "Thread 2", "thread-2"),
    "fallback QComboBox.findData": lambda: partial(_combo(THREADS).findData, f"thread-{SMALL_INT}"),
    "fallback QComboBox.setCurrentIndex": lambda: partial(_combo(THREADS).setCurrentIndex, SMALL_INT),
    # qt/services/notifications.py Notifier.show/_send/_balloon (and the health monitor's retry timer)
    "notifications QTimer.isActive": lambda: QTimer().isActive,
    "notifications QTimer.start": _timer_start,
    "notifications QTimer.stop": lambda: QTimer().stop,
    "notifications Signal.emit": _emit,
    "notifications QSystemTrayIcon.supportsMessages": lambda: QSystemTrayIcon.supportsMessages,
    "notifications QSystemTrayIcon.showMessage": lambda: partial(
        QSystemTrayIcon().showMessage, "Work: Open questions", "Two", QSystemTrayIcon.MessageIcon.Information, 8000
    ),
    # qt/app.py _on_run_finished → _recheck_listeners → InstanceServer.ensure_listening
    "app QLocalServer.isListening": _local_server,
    # a QObject's setter, as packaging/build.py measures it
    "build check QObject.setObjectName": lambda: partial(QObject().setObjectName, "probe"),
}


@pytest.fixture
def single_call(request: pytest.FixtureRequest, qapp: QApplication) -> Iterator[Callable[[], object]]:
    call = SINGLE_CALLS[request.param]()
    yield call
    gc.collect()


@pytest.mark.parametrize("single_call", list(SINGLE_CALLS), indirect=True)
def test_each_qt_call_of_a_heartbeat(single_call: Callable[[], object], request: pytest.FixtureRequest) -> None:
    """One call at a time, so a failure names the call that leaks."""
    _assert_unchanged(request.node.callspec.id, single_call)


def test_the_measurement_sees_a_lost_reference() -> None:
    """The check itself: 10,000 references to None taken away, as a leaking call does, fail it by 10,000
    (the slack hides no leak); they are given back after."""
    drop = partial(ctypes.pythonapi.Py_DecRef, ctypes.py_object(None))
    with pytest.raises(AssertionError, match=r"\(-10,0\d\d\)"):
        _assert_unchanged("Py_DecRef(None)", drop)
    _add_references(None, CALLS + WARM_UP)
