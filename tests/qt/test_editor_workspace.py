"""#27 item 2: the editor edits the HEARTBEAT.md the chosen thread reads (its workspace's), says which, and
offers to create a missing one — never silently. Real widgets, a real store, the loopback Ollama server."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from heartbeat_desktop import paths
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.qt.combo_keys import guard_combo_key_search
from heartbeat_desktop.qt.windows.editor_window import EditorWindow
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD
from tests.support.citing import Act
from tests.support.ollama_server import OllamaServer

PROJ_MD = "## Rules\nIf the build breaks → post the failing test.\n"
NONE = '{"action": "none", "reason": "quiet"}'


@pytest.fixture
def workspace(tmp_path: Path, store: SqliteStore) -> Path:
    ws = tmp_path / "proj"
    ws.mkdir()
    (ws / "HEARTBEAT.md").write_text(PROJ_MD, encoding="utf-8")
    store.threads.create("proj", "Project", ws)
    return ws


def _editor(qtbot, data_dir: Path, ollama: OllamaServer, thread_id: str | None = None) -> EditorWindow:
    def make_runner(s: SqliteStore) -> HeartbeatRunner:
        return HeartbeatRunner(s, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=5)

    window = EditorWindow(
        data_dir / "HEARTBEAT.md",
        data_dir / "heartbeat.db",
        WindowMemory(data_dir),
        lambda: [("default", "Default"), ("proj", "Project")],
        make_runner,
        thread_id=thread_id,
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.loading, timeout=5000)
    return window


def _choose(qtbot, editor: EditorWindow, thread_id: str) -> None:
    editor.thread_box.setCurrentIndex(editor.thread_box.findData(thread_id))
    qtbot.waitUntil(lambda: not editor.loading, timeout=5000)


@pytest.fixture(autouse=True)
def _discard_on_close(monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)


def test_choosing_a_workspace_thread_edits_and_saves_its_own_file(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    editor = _editor(qtbot, data_dir, ollama)
    assert editor.text.toPlainText() == GOOD_MD and "data folder" in editor.path_label.text()
    _choose(qtbot, editor, "proj")
    assert editor.text.toPlainText() == PROJ_MD
    assert str(workspace / "HEARTBEAT.md") in editor.path_label.text()
    assert "workspace read by Project —" not in editor.path_label.text()
    assert editor.path_label.text().endswith("workspace read by Project") and "of Project" in editor.windowTitle()
    assert "post the failing test" in editor.parsed.toPlainText()
    editor.text.setPlainText(PROJ_MD + "If a PR waits → comment.\n")
    assert editor.save()
    assert (workspace / "HEARTBEAT.md").read_text() == PROJ_MD + "If a PR waits → comment.\n"
    assert (data_dir / "HEARTBEAT.md").read_text() == GOOD_MD  # the data folder's is untouched


def test_preview_and_replay_try_the_workspace_threads_file(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    assert editor.thread_box.currentData() == "proj" and editor.text.toPlainText() == PROJ_MD
    ollama.script(Act(NONE))
    editor.preview.preview_button.click()
    qtbot.waitUntil(lambda: not editor.preview.preview_running, timeout=10000)
    assert "post the failing test" in editor.preview.prompt.toPlainText()
    assert "Summarise open questions" not in editor.preview.prompt.toPlainText()


def test_a_missing_file_is_offered_from_the_template_never_created_silently(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    (workspace / "HEARTBEAT.md").unlink()
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    assert not (workspace / "HEARTBEAT.md").exists()
    assert editor.create_button.isVisibleTo(editor) and "does not exist" in editor.banner.text()
    assert "Heartbeats of Project fail until it does" in editor.banner.text()
    assert editor.path_label.text().endswith(" — does not exist")  # not "yet": it may have been deleted
    assert "fail until it does" in editor.parsed.toPlainText()  # not "heartbeats will be skipped"
    editor.create_button.click()
    qtbot.waitUntil(lambda: not editor.loading, timeout=5000)
    template = paths.bundled("HEARTBEAT.md").read_text(encoding="utf-8")
    assert (workspace / "HEARTBEAT.md").read_text(encoding="utf-8") == template
    assert editor.text.toPlainText() == template and not editor.create_button.isVisibleTo(editor)
    assert "Created" in editor.banner.text()


def test_a_deleted_data_folder_file_is_not_recreated_by_opening_the_editor(qtbot, store, data_dir, ollama) -> None:
    (data_dir / "HEARTBEAT.md").unlink()
    editor = _editor(qtbot, data_dir, ollama)
    assert not (data_dir / "HEARTBEAT.md").exists()
    assert editor.create_button.isVisibleTo(editor) and editor.text.toPlainText() == ""


def test_switching_threads_with_unsaved_text_asks_and_cancel_keeps_it(
    qtbot, store, data_dir: Path, workspace: Path, ollama, monkeypatch
) -> None:
    editor = _editor(qtbot, data_dir, ollama)
    editor.text.setPlainText("my unsaved rules")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    _choose(qtbot, editor, "proj")
    assert editor.thread_box.currentData() == "default" and editor.text.toPlainText() == "my unsaved rules"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    _choose(qtbot, editor, "proj")
    assert editor.text.toPlainText() == PROJ_MD
    assert (data_dir / "HEARTBEAT.md").read_text() == "my unsaved rules\n"


def test_open_thread_shows_that_threads_file(qtbot, store, data_dir: Path, workspace: Path, ollama) -> None:
    editor = _editor(qtbot, data_dir, ollama)
    editor.open_thread("proj")
    qtbot.waitUntil(lambda: not editor.loading and editor.text.toPlainText() == PROJ_MD, timeout=5000)


def test_alt_d_on_the_thread_box_presses_dry_run_and_never_switches_the_thread(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    """A focused combo box searched its items for Alt+D whenever the button was disabled (a file loading, a
    preview running) and jumped to "Default". The app's QApplication keeps modified keys from combo boxes."""
    guard_combo_key_search(QApplication.instance())  # as make_application does at launch
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    editor.activateWindow()
    editor.thread_box.setFocus()
    qtbot.waitUntil(editor.thread_box.hasFocus)
    editor.preview.preview_button.setEnabled(False)  # as while a thread's file loads
    qtbot.keyClick(editor.thread_box, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)
    qtbot.wait(50)
    assert editor.thread_box.currentData() == "proj"
    qtbot.keyClick(editor.thread_box, Qt.Key.Key_D)  # a plain letter still searches the list
    assert editor.thread_box.currentData() == "default"
    _choose(qtbot, editor, "proj")
    ollama.script(Act(NONE))
    editor.preview.preview_button.setEnabled(True)
    with qtbot.waitSignal(editor.preview.preview_button.clicked, timeout=2000):  # a mnemonic animates a click
        qtbot.keyClick(editor.thread_box, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)
    assert editor.thread_box.currentData() == "proj"
    qtbot.waitUntil(lambda: not editor.preview.preview_running, timeout=10000)


def test_a_shared_workspace_names_every_thread_that_reads_it(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    store.threads.create("rel", "Release", workspace)
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    assert editor.path_label.text() == f"{workspace / 'HEARTBEAT.md'} — the workspace read by Project and Release"


def test_a_heartbeat_md_that_is_a_directory_is_said_as_the_runner_says_it(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    target = workspace / "HEARTBEAT.md"
    target.unlink()
    target.mkdir()
    runner = HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=5)
    run = runner.run("proj")
    assert f"cannot read {target}: not a regular file" in (run.reason or "")
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    said = f"Cannot read {target}: not a regular file. Heartbeats of Project fail until it can be read."
    assert editor.banner.text() == f"⚠ {said}" and editor.parsed.toPlainText() == said
    assert "HEARTBEAT.md/HEARTBEAT.md" not in editor.banner.text() + editor.path_label.text()
    assert "skipped" not in editor.parsed.toPlainText() and editor.text.toPlainText() == ""


def test_a_file_deleted_under_unsaved_edits_is_said_deleted(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    editor.text.setPlainText(PROJ_MD + "more\n")
    (workspace / "HEARTBEAT.md").unlink()
    qtbot.waitUntil(lambda: editor.banner.isVisible(), timeout=5000)
    assert "was deleted while you were editing" in editor.banner.text() and "changed" not in editor.banner.text()
    assert editor.text.toPlainText() == PROJ_MD + "more\n"
    # The banner spans the window above the text and the preview, clear of the right-hand heading.
    heading = next(label for label in editor.findChildren(QLabel) if label.text() == "What the app &understands:")
    top_of_heading = heading.mapTo(editor, heading.rect().topLeft()).y()
    assert editor.banner.mapTo(editor, editor.banner.rect().bottomLeft()).y() < top_of_heading
    editor.reload_button.click()
    qtbot.waitUntil(lambda: not editor.loading, timeout=5000)
    assert editor.path_label.text().endswith(" — does not exist")


def test_the_live_view_says_a_task_outside_active_hours_runs_when_they_start(
    qtbot, store, data_dir: Path, workspace: Path, ollama
) -> None:
    """Rough edges: a task at 06:00 in a thread active 08–22 silently ran at 08:00; the editor's live view, on
    the chosen thread's clock, says so as you type."""
    from heartbeat_desktop.core.config import HeartbeatConfig

    store.threads.set_config("proj", HeartbeatConfig(active_hours_start=8, active_hours_end=22))
    editor = _editor(qtbot, data_dir, ollama, thread_id="proj")
    editor.text.setPlainText(PROJ_MD + "## Tasks\n- daily 06:00: post a summary\n- daily 09:00: post the plan\n")
    said = "daily 06:00 is outside active hours 08:00–22:00: it runs at 08:00"
    qtbot.waitUntil(lambda: said in editor.parsed.toPlainText(), timeout=5000)
    assert "daily 09:00 is outside" not in editor.parsed.toPlainText()
    _choose(qtbot, editor, "default")  # a thread active all day: nothing is moved
    editor.text.setPlainText(GOOD_MD + "## Tasks\n- daily 06:00: post a summary\n")
    qtbot.waitUntil(lambda: "daily 06:00: post a summary" in editor.parsed.toPlainText(), timeout=5000)
    assert "outside active hours" not in editor.parsed.toPlainText()
