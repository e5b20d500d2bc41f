"""The GUI's background tasks: results arrive as signals, finished tasks are forgotten, cancel stops
delivery."""

from __future__ import annotations

import threading

import pytest

from heartbeat_desktop.qt.services.tasks import Tasks


def test_finished_tasks_are_pruned_and_results_delivered(qtbot) -> None:
    tasks = Tasks()
    results: list[object] = []
    errors: list[str] = []
    for i in range(20):
        tasks.start(lambda _t, i=i: i * 2, done=results.append)
    tasks.start(lambda _t: 1 / 0, failed=errors.append)
    qtbot.waitUntil(lambda: len(tasks) == 0, timeout=5000)
    assert sorted(results) == [i * 2 for i in range(20)] and errors == ["division by zero"]


def test_cancel_all_stops_delivery_and_the_work_can_see_it(qtbot) -> None:
    tasks = Tasks()
    release = threading.Event()
    seen: list[bool] = []
    results: list[object] = []

    def work(task) -> str:
        release.wait(5)
        seen.append(task.cancelled.is_set())
        return "late"

    tasks.start(work, done=results.append)
    tasks.cancel_all()
    assert len(tasks) == 0  # the owner lets go at once
    release.set()
    qtbot.waitUntil(lambda: seen == [True], timeout=5000)
    qtbot.wait(50)
    assert results == []


@pytest.mark.parametrize("finish", ["done", "cancelled"])
def test_a_closed_owner_is_freed_with_its_tasks(qtbot, finish: str) -> None:
    """A parentless Task's connections live in C++, out of the collector's sight: a slot closing over its
    window kept the window alive after it closed (about 250 KB per Settings dialog opened)."""
    import gc
    import threading
    import weakref

    from PySide6.QtWidgets import QWidget

    release = threading.Event()

    class Owner(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.tasks = Tasks(self)
            self.results: list[object] = []
            self.tasks.start(lambda _t: release.wait(5) and "x", done=lambda r: self.results.append(r))

    holder = [Owner()]
    ref = weakref.ref(holder[0])
    if finish == "done":
        release.set()
        qtbot.waitUntil(lambda: holder[0].results == ["x"], timeout=5000)
    else:
        holder[0].tasks.cancel_all()
        release.set()
    holder[0].deleteLater()
    holder.clear()
    qtbot.wait(100)
    gc.collect()
    assert ref() is None
