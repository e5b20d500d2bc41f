"""Runs the app itself refused are "refused", not "failed", wherever runs are filtered or counted (found living
with the app): History's Status filter, `history --status` and History's chart, as its status column already
says "refused (…)". Real runs through the runner and the Ollama-protocol server, a real window, the real CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtGui import QImage

from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.qt.windows.history_window import HistoryWindow
from heartbeat_desktop.qt.windows.run_chart import LEGEND, STATUS_COLOURS
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from tests.support.citing import Act
from tests.support.ollama_server import Error, OllamaServer
from tests.test_cli import cli

POST = {"action": "post", "title": "Standup notes", "content": "Three things happened.", "reason": "daily"}


def _one_of_each(runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore) -> dict[str, str]:
    """An ok run, a refused one (the same post again: a duplicate) and a failed one (the server broke)."""
    ids = {}
    for kind in ("ok", "refused"):
        store.threads.add_message("default", f"news for the {kind} run")
        ollama.script(Act(POST))
        ids[kind] = runner.run("default").id
    ollama.script(Error(500, "the model crashed"))
    ids["failed"] = runner.run("default").id
    runs = {run_id: store.runs.get(run_id) for run_id in ids.values()}
    assert [(runs[ids[k]].status, runs[ids[k]].error_kind) for k in ("ok", "refused")] == [
        ("ok", None),
        ("failed", "duplicate"),
    ]
    assert runs[ids["failed"]].status == "failed"
    return ids


def test_history_filters_and_charts_refused_runs_apart_from_failures(
    qtbot, runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    ids = _one_of_each(runner, ollama, store)
    window = HistoryWindow(store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.show()
    statuses = [window.status_box.itemText(i) for i in range(window.status_box.count())]
    assert "refused" in statuses and statuses.index("refused") == statuses.index("failed") + 1

    def shown(status: str) -> list[tuple[str, str]]:
        window.status_box.setCurrentIndex(window.status_box.findData(status))
        rows = range(window.model.rowCount())
        return [(window.model.run_at(r).id, window.model.index(r, 3).data()) for r in rows]

    assert shown("refused") == [(ids["refused"], "refused (duplicate)")]
    assert shown("failed") == [(ids["failed"], "failed")]  # the failure to fix, without the app's own refusal
    window.status_box.setCurrentIndex(0)
    qtbot.waitUntil(lambda: not window.chart.loading, timeout=5000)
    today = window.chart.day_keys()[-1]
    assert window.chart._counts[today] == {"ok": 1, "refused": 1, "failed": 1}
    assert "refused" in LEGEND and STATUS_COLOURS["refused"] not in (STATUS_COLOURS["failed"], STATUS_COLOURS["ok"])
    image = window.chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    colours = {image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())}
    assert STATUS_COLOURS["refused"].name() in colours  # its own series (and legend), in its own colour


def test_history_status_refused_on_the_command_line(
    runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    ids = _one_of_each(runner, ollama, store)
    for status, expected in (("refused", "refused"), ("failed", "failed")):
        listed = cli(data_dir, "history", "--status", status, "--json")
        assert listed.returncode == 0, listed.stderr
        assert [r["id"] for r in json.loads(listed.stdout)] == [ids[expected]]
    text = cli(data_dir, "history", "--status", "refused").stdout
    assert "refused" in text and "the same post as #1" in text and "HTTP 500" not in text
    helped = cli(data_dir, "history", "--help").stdout
    assert "refused" in helped and "{started,ok,skipped,failed,refused,interrupted}" in helped


def test_history_status_column_shows_a_refusal_whole(
    qtbot, runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    """Seen in the README's screenshot: the 80 px Status column cut "refused (duplicate)" to "refused …". The
    column is as wide as its longest label, so every refusal's kind is read in the table, not only its tooltip."""
    ids = _one_of_each(runner, ollama, store)
    window = HistoryWindow(store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.resize(900, 680)
    window.show()
    metrics = window.table.fontMetrics()
    row = next(r for r in range(window.model.rowCount()) if window.model.run_at(r).id == ids["refused"])
    assert window.model.index(row, 3).data() == "refused (duplicate)"
    width = window.table.columnWidth(3)
    assert width >= metrics.horizontalAdvance("refused (duplicate)") + 8
    assert width >= metrics.horizontalAdvance("refused (rejected before)") + 8  # the longest kind
    assert window.table.columnWidth(4) >= 200  # the Action column keeps room for a post's title


def test_history_details_say_refused_as_the_column_does(
    qtbot, runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    """Seen in the README's screenshot: the row said "refused (duplicate)" and its details "Status: failed"."""
    from heartbeat_desktop.qt.windows.history_window import run_details

    ids = _one_of_each(runner, ollama, store)
    details = run_details(store.runs.get(ids["refused"]))
    assert "Status: refused (duplicate)" in details and "Status: failed" not in details
    assert "Status: failed" in run_details(store.runs.get(ids["failed"]))  # a real failure still says so
    assert "Status: ok" in run_details(store.runs.get(ids["ok"]))


def test_a_refusal_is_not_called_a_failure_by_run_now_history_or_the_log(
    qtbot, caplog, runner: HeartbeatRunner, ollama: OllamaServer, store: SqliteStore, data_dir: Path
) -> None:
    """Found living with the app: run-now exited 1 and said "status": "failed" for a refusal, History's detail
    pane said "Status: failed", and the log warned "Heartbeat failed". A refusal is the app's rule at work."""
    caplog.set_level(logging.INFO, logger="heartbeat_desktop.core.runner")
    ids = _one_of_each(runner, ollama, store)
    ollama.script(Act(POST))  # the same post a third time: refused by the real command too
    store.threads.add_message("default", "news for the command's run")
    done = cli(data_dir, "run-now", "--json", host=ollama.url)
    assert done.returncode == 0, (done.stdout, done.stderr)  # nothing done, nothing wrong: as for a skip
    said = json.loads(done.stdout)
    assert (said["status"], said["shown_status"]) == ("failed", "refused (duplicate)")  # status kept for scripts
    log = (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")
    assert "INFO heartbeat_desktop.core.runner: Heartbeat refused for thread default: refused: the same post" in log
    assert "Heartbeat failed for thread default: refused" not in log
    logged = [(r.levelname, r.getMessage()[:40]) for r in caplog.records if r.getMessage().startswith("Heartbeat ")]
    assert ("INFO", "Heartbeat refused for thread default: re") in logged
    assert [m for level, m in logged if level == "WARNING"] == ["Heartbeat failed for thread default: Oll"]  # HTTP 500
    listed = json.loads(cli(data_dir, "history", "--json").stdout)
    shown = {r["id"]: r["shown_status"] for r in listed}
    assert (shown[ids["ok"]], shown[ids["refused"]], shown[ids["failed"]]) == ("ok", "refused (duplicate)", "failed")
    window = HistoryWindow(store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.show()
    rows = {window.model.run_at(r).id: r for r in range(window.model.rowCount())}
    window.table.selectRow(rows[ids["refused"]])
    assert "Status: refused (duplicate)" in window.detail.toPlainText()  # what the list says
    window.table.selectRow(rows[ids["failed"]])
    assert "Status: failed" in window.detail.toPlainText()
