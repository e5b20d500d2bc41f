"""The one pull task (qt/services/model_pull.py) that Set up's "Pull into Ollama" and Settings' Pull both start:
against the loopback Ollama-protocol server, and a check that no window builds a pull of its own again."""

from __future__ import annotations

import re

from heartbeat_desktop.qt.services.model_pull import PullProgress, percent, start_pull
from heartbeat_desktop.qt.services.tasks import Tasks
from tests.conftest import REPO
from tests.support.ollama_server import OllamaServer


def test_one_pull_task_reports_progress_and_ends_with_the_name(qtbot) -> None:
    server = OllamaServer(models=())
    server.pull_step_s = 0.02
    server.start()
    try:
        tasks = Tasks()
        seen: list[PullProgress] = []
        done: list[str] = []
        failed: list[str] = []
        start_pull(tasks, server.url, "llama3.2", done.append, failed.append, seen.append)
        qtbot.waitUntil(lambda: bool(done or failed), timeout=10000)
        assert done == ["llama3.2"] and not failed
        assert seen and any(percent(p) is not None for p in seen)
        start_pull(tasks, server.url, "missing-model", done.append, failed.append, seen.append)
        qtbot.waitUntil(lambda: bool(failed), timeout=10000)
        assert "file does not exist" in failed[0]
    finally:
        server.stop()


def test_percent_is_whole_and_unknown_without_a_total() -> None:
    assert percent(("downloading", 512, 1024)) == 50
    assert percent(("pulling manifest", None, None)) is None


def test_no_window_builds_a_pull_of_its_own() -> None:
    """Set up and Settings each had the same task body (client, progress relay, name as result): the pull is
    started in one place, and both windows start it there."""
    qt = REPO / "heartbeat_desktop" / "qt"
    pulling = sorted(
        str(path.relative_to(qt))
        for path in qt.rglob("*.py")
        if re.search(r"\bclient\.pull\(", path.read_text(encoding="utf-8"))
    )
    assert pulling == ["services/model_pull.py"]
    for window in ("setup_window.py", "settings_dialog.py"):
        assert "start_pull(" in (qt / "windows" / window).read_text(encoding="utf-8"), window
