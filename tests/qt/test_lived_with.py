"""What a user who lived with the app found in its windows (Feed, History, tray, Compare models, Set up):
each test fails without its fix."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.qt.app import TrayApp
from heartbeat_desktop.qt.model_names import short_model_name
from heartbeat_desktop.qt.windows.compare_dialog import CompareModelsDialog
from heartbeat_desktop.qt.windows.feed_window import FeedWindow
from heartbeat_desktop.qt.windows.history_window import HistoryWindow
from heartbeat_desktop.qt.windows.run_chart import LATENCY_COLOUR
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from tests.qt.test_model_names import LONG
from tests.qt.test_tray import app_env, tray_app  # noqa: F401  (the real app, its windows made by its registry)
from tests.support.citing import Act
from tests.support.ollama_server import OllamaServer, Reply, Respond
from tests.test_cli_decisions import SUITE


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


# ---------------------------------------------------------------------------- 2. History
def test_history_shows_the_whole_status_and_a_lone_days_latency(qtbot, store: SqliteStore, data_dir: Path) -> None:
    run = RunRecord(id="run-r", thread_id="default", trigger="scheduled", dry_run=False, started_at=time.time())
    store.insert_run(run)
    run.status, run.error_kind, run.reason = "failed", "nothing_new", "refused: nothing new since the last run"
    run.llm_ms, run.total_ms = 14400, 14500
    store.finish_run(run, None)
    window = HistoryWindow(store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.model.index(0, 3).data() == "refused (nothing new)"
    text = window.table.fontMetrics().horizontalAdvance("refused (nothing new)")
    assert window.table.columnWidth(3) >= max(
        text, window.table.sizeHintForColumn(3)
    )  # the whole status, not "refused (nothi…"

    qtbot.waitUntil(lambda: not window.chart.loading, timeout=5000)
    image = QImage(window.chart.size(), QImage.Format.Format_ARGB32)
    image.fill(window.chart.palette().color(window.chart.backgroundRole()))
    window.chart.render(image)
    blue = LATENCY_COLOUR.rgb()
    marks = sum(image.pixel(x, y) == blue for x in range(image.width()) for y in range(image.height() - 16))
    assert marks >= 9  # the one day's mean latency drawn, as the legend says (no "started" run is blue here)


# ---------------------------------------------------------------------------- 3. the README says what the tray says
def test_the_readme_quotes_the_snoozed_tray_as_it_is() -> None:
    from heartbeat_desktop.core.scheduler_state import SchedulerState
    from heartbeat_desktop.qt.tray import tooltip
    from heartbeat_desktop.qt.tray_menu import status_line
    from tests.conftest import REPO
    from tests.qt.test_tray import ts

    at = datetime.combine(date.today(), dtime(15, 30)).timestamp()
    work = ts("work", snoozed_until=at, last_status="ok", last_run_at=at - 3600)
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    for threads in ((work,), (work, ts("rest", next_due=at + 600))):
        state = SchedulerState(True, False, threads)
        said = " ".join(tooltip(state, None).split())
        first = status_line(state, None)
        assert f'"{first}"' in readme and first in said
        assert '"Work: snoozed until 15:30, last ok"' in readme and "Work: snoozed until 15:30, last ok" in said


# ---------------------------------------------------------------------------- 4. Compare models
def test_compare_cancel_stays_put_and_keeps_what_was_measured(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, tmp_path: Path
) -> None:
    asked: list[str] = []

    def answer(body: dict[str, Any]) -> Reply:
        asked.append(body["model"])
        none = json.dumps({"action": "none", "reason": "quiet"})
        return Reply(none) if len(asked) <= 2 else Reply(none, delay_s=30)  # the third question hangs

    ollama.default = Respond(answer)
    ollama.models.append(LONG)
    suite = tmp_path / "tiny.toml"
    # Every situation asked (an empty one is the app's own "none", never asked): four questions, in order
    talk = 'id = "quiet"\nnow = "2026-11-27T10:00:00"\nmessages = [{ text = "Lovely weather today." }]\n'
    suite.write_text(SUITE.replace('id = "quiet"\nnow = "2026-11-27T10:00:00"\n', talk), encoding="utf-8")
    dialog = CompareModelsDialog(store.db.path, data_dir, lambda _s: OllamaClient(ollama.url), [LONG], [LONG])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.set_suite(suite)
    where = dialog.cancel_button.geometry()
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() == 2, timeout=10000)
    assert dialog.cancel_button.geometry() == where  # the click meant for Cancel does not land on the bar
    line = dialog.status.text()
    assert line.startswith("2 of 4: ") and short_model_name(LONG) in line and LONG not in line
    assert dialog.status.toolTip() == LONG
    qtbot.waitUntil(lambda: len(asked) == 3, timeout=5000)
    dialog.cancel_button.click()
    assert not dialog.running and dialog.status.text() == "Cancelled after 2 of 4."
    assert not dialog.progress.isVisible() and dialog.cancel_button.geometry() == where
    qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=5000)  # the partial results
    qtbot.wait(100)
    rows = [[dialog.table.item(r, c).text() for c in (0, 1, 2)] for r in range(dialog.table.rowCount())]
    assert rows == [[short_model_name(LONG), "direct", "100 %"]]  # the question Cancel cut short is not a 0 %
    assert dialog.status.text() == "Cancelled after 2 of 4."


# ---------------------------------------------------------------------------- 5. windows keep their size
def test_setup_never_grows_for_a_long_unbroken_reply(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heartbeat_desktop.llm import discover
    from heartbeat_desktop.qt.windows.setup_window import SetupWindow
    from heartbeat_desktop.wiring import make_runner

    monkeypatch.setenv(discover.ADDRESSES_ENV, ollama.url)
    url = "https://example.com/" + "a1b2c3d4" * 20  # one word of 180 characters
    ollama.script(Act({"action": "post", "title": url, "content": "See the link.", "reason": "a link"}))
    window = SetupWindow(
        lambda: store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda s: make_runner(s, data_dir),
        lambda: None,
    )  # fmt: skip
    qtbot.addWidget(window)
    window.resize(640, 560)
    window.show()
    qtbot.waitUntil(lambda: window.selected() is not None, timeout=5000)
    window.use_button.click()
    qtbot.waitUntil(lambda: "Dry-run heartbeat:" in window.result.text(), timeout=10000)
    qtbot.wait(50)
    assert window.width() == 640 and window.minimumSizeHint().width() <= 640
    assert url in window.result.text().replace("\u200b", "")  # all of it, on several lines


def test_replay_shows_the_whole_with_this_text_column(qtbot) -> None:
    from heartbeat_desktop.core.replay import ReplayItem, ReplayResult
    from heartbeat_desktop.core.verdict import Verdict
    from heartbeat_desktop.qt.windows.replay_view import ReplayView

    run = RunRecord(
        id="run-0123456789", thread_id="default", trigger="scheduled", dry_run=False, started_at=time.time()
    )
    long_title = "A summary of everything that happened in the project this week, with the open questions " * 2
    before = Verdict("valid", action="none", detail="quiet")
    after = Verdict("valid", action="post", title=long_title.strip(), detail="news")
    view = ReplayView()
    qtbot.addWidget(view)
    view.resize(640, 400)
    view.show()
    qtbot.waitExposed(view)
    view.show_result(ReplayResult(items=[ReplayItem(run, before, after, "llama3.2", "direct")]))
    qtbot.wait(20)
    table = view.table
    assert table.horizontalHeader().length() <= table.viewport().width()  # no column cut off at the right
    assert not table.horizontalScrollBar().isVisible()
    assert table.rowHeight(0) > table.fontMetrics().height() * 1.5  # the long decision wraps
    assert table.item(0, 2).toolTip() == table.item(0, 2).text()


def test_the_add_thread_dialog_is_wide_enough(qtbot, store: SqliteStore, data_dir: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QInputDialog

    from heartbeat_desktop.qt.windows.threads_window import ThreadsWindow

    window = ThreadsWindow(store, WindowMemory(data_dir), on_change=lambda: None)
    qtbot.addWidget(window)
    window.show()
    widths: list[int] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        widths.append(box.width())
        box.reject()

    QTimer.singleShot(0, answer)
    window.add_thread()
    assert widths and widths[0] >= 400


def test_settings_keeps_its_width_when_switching_thread(qtbot, store: SqliteStore, data_dir: Path, monkeypatch) -> None:
    from heartbeat_desktop.core.config import HeartbeatConfig
    from heartbeat_desktop.qt.windows.settings_dialog import SettingsDialog

    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    store.threads.create("proj", "Project X")
    store.threads.set_config("proj", HeartbeatConfig(active_hours_start=8, active_hours_end=2, every_seconds=60))
    dialog = SettingsDialog(
        store, WindowMemory(data_dir), autostart_enabled=lambda: False, set_autostart=lambda on: None,
        on_applied=lambda: None, data_dir=data_dir,
    )  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    widths = []
    for thread_id in ("default", "proj", "default"):
        dialog.thread_box.setCurrentIndex(dialog.thread_box.findData(thread_id))
        qtbot.wait(20)
        widths.append((dialog.width(), dialog.thread_page.minimumSizeHint().width()))
        if thread_id == "proj":
            assert "overnight" in dialog.thread_page.hours_note.text()
    assert len(set(widths)) == 1, widths


def test_the_previews_result_names_the_model_short() -> None:
    from heartbeat_desktop.qt.windows.editor_views import preview_summary
    from tests.qt.test_model_names import GGUF

    run = RunRecord(id="p", thread_id="default", trigger="preview", dry_run=True, started_at=time.time())
    run.status, run.model, run.llm_ms = "ok", f"llamacpp:{GGUF}", 1200
    said = preview_summary(run)
    assert "Model: llamacpp:qwen2.5-1.5b-instruct-q4_k_m.gguf, answered in 1.2 s" in said and GGUF not in said
