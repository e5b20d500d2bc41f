"""The decision-quality UI: the editor's "Replay last N runs", Settings' decision mode and "Compare models…".

Real widgets (offscreen), a real store, the loopback model server answering per question; every test also
checks that nothing was written, and the long ones that Cancel returns at once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.qt.windows.compare_dialog import CompareModelsDialog
from heartbeat_desktop.qt.windows.editor_preview import REPLAY_TAB, RESULT_TAB
from heartbeat_desktop.qt.windows.editor_window import EditorWindow
from heartbeat_desktop.qt.windows.settings_dialog import SettingsDialog
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from tests.support.citing import cite_from
from tests.support.ollama_server import Hang, OllamaServer, Reply, Respond
from tests.test_cli_decisions import SUITE, snapshot

NONE = json.dumps({"action": "none", "reason": "quiet"})
POST = json.dumps({"action": "post", "rule": 1, "title": "Reminder", "content": "Call Ana.", "reason": "due"})


def _system(body: dict[str, Any]) -> str:
    return body["messages"][0]["content"]


@pytest.fixture
def recorded(store: SqliteStore, data_dir: Path, ollama: OllamaServer) -> list[str]:
    """Three runs of the default thread, recorded by the real runner with a quiet model."""
    store.threads.add_message("default", "Remind me today to call Ana.")
    store.threads.set_config("default", HeartbeatConfig(always_ask=True, model="llama3.2"))
    runner = HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=5)
    ollama.default = Reply(NONE)
    return [runner.run("default").id for _ in range(3)]


@pytest.fixture
def editor(qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, monkeypatch) -> EditorWindow:
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)

    def make_runner(s: SqliteStore) -> HeartbeatRunner:
        return HeartbeatRunner(s, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=5)

    window = EditorWindow(
        data_dir / "HEARTBEAT.md",
        data_dir / "heartbeat.db",
        WindowMemory(data_dir),
        lambda: [("default", "Default")],
        make_runner,
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.loading, timeout=5000)
    return window


def test_replay_lists_the_decisions_the_unsaved_text_changes(
    qtbot, editor: EditorWindow, recorded: list[str], ollama: OllamaServer, data_dir: Path
) -> None:
    # The model posts only when the rules it is given say "post the reminder".
    ollama.default = Respond(
        lambda body: Reply(
            json.dumps(cite_from(body, json.loads(POST))) if "post the reminder" in _system(body) else NONE
        )
    )
    before = snapshot(data_dir)
    editor.preview.replay_count.setValue(2)
    editor.text.setPlainText("## Rules\nIf a reminder is due today → post the reminder.\n")
    editor.preview.replay_button.click()
    assert editor.preview.busy.isVisibleTo(editor) and editor.preview.cancel_button.isEnabled()
    assert editor.preview.tabs.currentIndex() == REPLAY_TAB
    qtbot.waitUntil(lambda: not editor.preview.preview_running, timeout=10000)
    assert editor.preview.replay_summary.text() == "2 of 2 decisions change with this text:"
    table = editor.preview.replay_table
    rows = [[table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())]
    assert [row[1:] for row in rows] == [["none", 'post "Reminder"']] * 2
    assert rows[0][0].endswith(recorded[2][:8])  # newest first
    assert snapshot(data_dir) == before  # nothing written, not even a run
    assert editor.modified  # the text stays unsaved
    assert table.isVisibleTo(editor)
    editor.reload_button.click()  # "Reload from disk": the result was about a text that is gone (#27 item 8)
    qtbot.waitUntil(lambda: not editor.loading, timeout=5000)
    assert table.rowCount() == 0 and not table.isVisibleTo(editor)
    assert editor.preview.replay_summary.text().startswith("Replay the thread's recent runs")
    # A dry run started from the Replay tab shows its answer (seen retaking the README's screenshot: it went
    # into the Result tab behind it, and the window looked as if nothing had happened).
    editor.preview.preview_button.click()
    assert editor.preview.tabs.currentIndex() == RESULT_TAB
    qtbot.waitUntil(lambda: not editor.preview.preview_running, timeout=10000)
    assert editor.preview.tabs.currentIndex() == RESULT_TAB
    assert editor.preview.result.toPlainText().startswith("Status: ok (dry run")


def test_replay_with_an_unchanged_outcome_says_so(qtbot, editor: EditorWindow, recorded, ollama) -> None:
    ollama.default = Reply(NONE)
    editor.preview.replay_button.click()
    qtbot.waitUntil(lambda: not editor.preview.preview_running, timeout=10000)
    table = editor.preview.replay_table
    assert editor.preview.replay_summary.text() == "Nothing changed: 3 runs, the same decisions."
    assert table.rowCount() == 0 and not table.isVisibleTo(editor)  # #27: no empty table


def test_replay_of_a_thread_without_runs_and_with_the_server_down(qtbot, store, data_dir, monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)

    def make_runner(s: SqliteStore) -> HeartbeatRunner:
        return HeartbeatRunner(s, OllamaClient("http://127.0.0.1:9"), default_workspace=data_dir)

    window = EditorWindow(
        data_dir / "HEARTBEAT.md", data_dir / "heartbeat.db", WindowMemory(data_dir), lambda: [("default", "D")],
        make_runner,
    )  # fmt: skip
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.loading, timeout=5000)
    window.preview.replay_button.click()
    qtbot.waitUntil(lambda: not window.preview.preview_running, timeout=10000)
    assert "no recorded run that asked a model yet" in window.preview.replay_summary.text()


def test_replay_can_be_cancelled_at_once(qtbot, editor: EditorWindow, recorded, ollama: OllamaServer) -> None:
    ollama.default = Hang(30)
    editor.preview.replay_button.click()
    qtbot.waitUntil(lambda: len(ollama.chat_requests()) == 4, timeout=5000)  # three recorded, one replaying
    started = time.monotonic()
    editor.preview.cancel_button.click()
    assert time.monotonic() - started < 0.2
    assert not editor.preview.preview_running and editor.preview.replay_button.isEnabled()
    assert editor.preview.replay_summary.text() == "Replay cancelled."


# ---------------------------------------------------------------------------- compare models


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def _compare(qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, models, checked) -> CompareModelsDialog:
    dialog = CompareModelsDialog(store.db.path, data_dir, lambda _s: OllamaClient(ollama.url), models, checked)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_compare_models_runs_the_suite_off_the_gui_thread_and_shows_the_table(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, suite_file: Path
) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        if "format" not in body:
            return Reply("Thinking.", delay_s=0.05)
        user = body["messages"][1]["content"]
        post = json.dumps(cite_from(body, json.loads(POST)))
        return Reply(post if body["model"].startswith("qwen3") and "Remind me" in user else NONE, delay_s=0.05)

    ollama.default = Respond(answer)
    before = snapshot(data_dir)
    dialog = _compare(qtbot, store, data_dir, ollama, ["llama3.2", "qwen3:4b", "mistral"], ["llama3.2"])
    assert dialog.chosen_models() == ["llama3.2"]
    dialog.models.item(1).setCheckState(dialog.models.item(0).checkState())  # and qwen3:4b
    dialog.set_suite(suite_file)
    ticks: list[float] = []
    dialog.start_button.click()
    assert dialog.running and dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    while dialog.running:  # the event loop keeps turning while the questions are asked
        t = time.monotonic()
        qtbot.wait(20)
        ticks.append(time.monotonic() - t)
    assert max(ticks) < 0.5 and len(ticks) > 5
    assert dialog.progress.maximum() == 8  # 2 models × 2 modes × 2 situations
    cells = [[dialog.table.item(r, c).text() for c in range(8)] for r in range(dialog.table.rowCount())]
    assert [row[:2] for row in cells] == [
        ["llama3.2", "direct"], ["llama3.2", "reason-first"], ["qwen3:4b", "direct"], ["qwen3:4b", "reason-first"],
    ]  # fmt: skip
    assert [row[3] for row in cells] == ["50 %", "50 %", "100 %", "100 %"]  # right action
    assert dialog.status.text() == "Done: 8 questions asked."
    assert snapshot(data_dir) == before
    # Every column shows (seen in the README's screenshot: at 760 px the last four were scrolled away): the
    # dialog widens until they fit, or to the whole screen where they cannot (offscreen's is 800 px wide).
    room = dialog.screen().availableGeometry().width()
    hidden = dialog.table.horizontalHeader().length() - dialog.table.viewport().width()
    assert dialog.width() > 760 and (hidden <= 0 or dialog.width() >= room)
    assert "False writes:" in dialog.details.text() and "Feedback right:" in dialog.details.text()


def test_compare_models_cancel_stops_the_call_in_flight(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, suite_file: Path
) -> None:
    ollama.default = Hang(30)
    dialog = _compare(qtbot, store, data_dir, ollama, [], ["llama3.2"])
    dialog.set_suite(suite_file)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(ollama.chat_requests()) == 1, timeout=5000)
    qtbot.waitUntil(lambda: dialog.progress.value() == 1, timeout=5000)  # the empty one's progress has arrived
    started = time.monotonic()
    dialog.cancel_button.click()
    assert time.monotonic() - started < 0.2 and not dialog.running
    # the empty "quiet" situation is the app's own none, never asked: one done before the call that hangs
    assert dialog.status.text() == "Cancelled after 1 of 4." and dialog.start_button.isEnabled()
    qtbot.wait(500)
    assert len(ollama.chat_requests()) == 1  # no further question was asked after Cancel


def test_compare_models_with_a_bad_suite_says_why(qtbot, store, data_dir, ollama, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[situations]]\nid = 'x'\n", encoding="utf-8")
    dialog = _compare(qtbot, store, data_dir, ollama, [], ["llama3.2"])
    dialog.set_suite(bad)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    assert dialog.status.text().startswith("Could not compare: situation 'x'")
    for box in dialog.mode_boxes.values():
        box.setChecked(False)
    dialog.start_button.click()
    assert not dialog.running and dialog.status.text() == "Choose at least one model and one mode."


# ---------------------------------------------------------------------------- settings


def test_settings_sets_the_decision_mode_and_opens_compare_with_the_threads_model(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, monkeypatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    store.threads.set_config("default", HeartbeatConfig(model="qwen3:4b"))
    dialog = SettingsDialog(
        store, WindowMemory(data_dir), autostart_enabled=lambda: False, set_autostart=lambda on: None,
        on_applied=lambda: None, data_dir=data_dir,
    )  # fmt: skip
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog._server_models is not None, timeout=5000)
    assert dialog.thread_page.decision_mode.currentData() == "direct"
    dialog.thread_page.decision_mode.setCurrentIndex(dialog.thread_page.decision_mode.findData("reason-first"))
    dialog.compare_button.click()
    compare = dialog.compare
    assert compare.isVisible() and compare.chosen_models() == ["qwen3:4b"]
    listed = [compare.models.item(i).text() for i in range(compare.models.count())]
    assert set(listed) == {"qwen3:4b", "llama3.2:latest"}  # what the server has, the thread's own checked
    compare.close()
    dialog.accept()
    config = HeartbeatConfig.load(store.threads.get("default").config_json)[0]
    assert config.decision_mode == "reason-first"
