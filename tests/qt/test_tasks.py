"""The GUI's background tasks: results arrive as signals, finished tasks are forgotten, cancel stops
delivery."""

from __future__ import annotations

import threading

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
    release.set()
    qtbot.waitUntil(lambda: len(tasks) == 0, timeout=5000)
    assert seen == [True] and results == []
