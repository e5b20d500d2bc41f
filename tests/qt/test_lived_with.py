"""What a user who lived with the app found in its windows (Feed, History, tray, Compare models, Set up):
each test fails without its fix."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.qt.app import TrayApp
from heartbeat_desktop.qt.windows.feed_window import FeedWindow
from heartbeat_desktop.store import SqliteStore
from tests.qt.test_tray import app_env, tray_app  # noqa: F401  (the real app, its windows made by its registry)


def _agent(store: SqliteStore, run_id: str, decision: dict) -> tuple[RunRecord, dict]:
    run = RunRecord(id=run_id, thread_id="default", trigger="scheduled", dry_run=False, started_at=time.time())
    store.insert_run(run)
    run.status = "ok"
    return run, store.finish_run(run, decision)


# ---------------------------------------------------------------------------- 1. the Feed follows the agent
def test_the_open_feed_follows_a_heartbeat_keeping_selection_and_scroll(qtbot, tray_app: TrayApp) -> None:  # noqa: F811
    agent = SqliteStore(tray_app.db_path)  # the scheduler's worker writes through a connection of its own
    try:
        ids = [_agent(agent, f"run-{i}", {"action": "post", "title": f"Post {i}", "content": "x"})[1]["post_id"]
               for i in range(40)]  # fmt: skip
        window = tray_app.open_window("feed")
        assert isinstance(window, FeedWindow)
        qtbot.waitExposed(window)
        picked = ids[5]  # far down the list: the table scrolled to it
        window.show_post(picked)
        window.table.scrollToBottom()
        scroll = window.table.verticalScrollBar().value()
        assert scroll > 0
        row = window.table.selectionModel().selectedRows()[0].row()
        assert window.model.data(window.model.index(row, 3)) == 0

        run, _ = _agent(agent, "run-c", {"action": "comment", "post_id": picked, "content": "agent says hi"})
        _agent(agent, "run-p", {"action": "post", "title": "Newest", "content": "y"})
        tray_app.scheduler.run_finished.emit(run)  # what the scheduler emits when a heartbeat ends
        qtbot.waitUntil(lambda: window.model.rowCount() == 41, timeout=5000)
        assert window.model.post_at(0).title == "Newest"  # not one post behind
        post = window._selected()
        assert post is not None and post.id == picked and post.comment_count == 1  # not "Comments 0"
        row = window.table.selectionModel().selectedRows()[0].row()
        assert window.model.data(window.model.index(row, 3)) == 1
        assert any("agent says hi" in window.comments.item(i).text() for i in range(window.comments.count()))
        assert window.table.verticalScrollBar().value() == scroll

        _agent(agent, "run-v", {"action": "vote", "post_id": picked, "direction": "up"})
        qtbot.keyClick(window, Qt.Key.Key_F5)
        qtbot.waitUntil(lambda: window.comments.count() == 2, timeout=5000)
        assert window._selected().score == 1
        _agent(agent, "run-q", {"action": "post", "title": "By the button", "content": "z"})
        window.refresh_button.click()
        qtbot.waitUntil(lambda: window.model.post_at(0).title == "By the button", timeout=5000)
    finally:
        agent.close()
