"""The GUI edges a new-user test found (keyboard, dialogs, tooltip): each fails without its fix."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPlainTextEdit

from heartbeat_desktop.qt.windows.not_useful import rule_dialog
from heartbeat_desktop.qt.windows.threads_window import ThreadsWindow
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore


def _threads(qtbot, store: SqliteStore, data_dir: Path) -> ThreadsWindow:
    window = ThreadsWindow(store, WindowMemory(data_dir), on_change=lambda: None)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_tab_in_the_compose_box_moves_on_and_the_kind_has_a_labelled_mnemonic(qtbot, store, data_dir) -> None:
    window = _threads(qtbot, store, data_dir)
    window.activateWindow()
    window.input.setFocus()
    qtbot.waitUntil(window.input.hasFocus)
    window.input.setPlainText("hello")
    qtbot.keyClick(window.input, Qt.Key.Key_Tab)
    assert window.input.toPlainText() == "hello" and not window.input.hasFocus()
    labels = [label for label in window.findChildren(QLabel) if label.buddy() is window.kind]
    assert [label.text() for label in labels] == ["&Kind:"]
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.AltModifier)
    assert window.kind.hasFocus()


def test_remove_thread_defaults_to_no(qtbot, store: SqliteStore, data_dir: Path) -> None:
    """Enter on the confirmation keeps the thread: No is the default button."""
    store.threads.create("work", "Work")
    window = _threads(qtbot, store, data_dir)
    window.list.setCurrentIndex(window.model.index(window.model.row_of("work")))
    seen: list[QMessageBox.StandardButton] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.standardButton(box.defaultButton()))
        qtbot.keyClick(box, Qt.Key.Key_Return)

    QTimer.singleShot(0, answer)
    window.remove_thread()
    assert seen == [QMessageBox.StandardButton.No]
    assert store.threads.get("work") is not None


def test_the_dont_suggest_rule_wraps(qtbot, tmp_path: Path) -> None:
    rule = "If the agent suggests “" + "a very long post title " * 8 + "” again → HEARTBEAT_OK."
    dialog = rule_dialog(None, "Don't suggest this again", f"Add this rule to {tmp_path}/HEARTBEAT.md?", rule)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    edit = dialog.findChild(QPlainTextEdit)
    assert edit is not None and edit.lineWrapMode() == QPlainTextEdit.LineWrapMode.WidgetWidth
    assert edit.toPlainText() == rule
    assert not edit.horizontalScrollBar().isVisible() and edit.document().blockCount() == 1
    assert edit.document().firstBlock().layout().lineCount() > 1  # shown on several lines


def test_the_tray_tooltip_lines_are_bounded_and_lose_no_words() -> None:
    """A failed thread's reason (a server's error, a path) made the tooltip as wide as the screen."""
    from heartbeat_desktop.core.scheduler_state import SchedulerState
    from heartbeat_desktop.qt.tray import TOOLTIP_WIDTH, tooltip
    from tests.qt.test_tray import ts

    reason = "Ollama at http://127.0.0.1:11434 did not answer within 120 s (model qwen2.5:7b-instruct) " * 2
    work = ts("work", last_status="failed", last_reason=reason.strip(), next_due=None)
    text = tooltip(SchedulerState(False, False, (work,)), "the model server does not answer: " + "x" * 30)
    lines = text.split("\n")
    assert all(len(line) <= TOOLTIP_WIDTH for line in lines), lines
    assert len(lines) > 3 and lines[0].startswith("Heartbeat Desktop — ")
    assert " ".join(text.split()).startswith(" ".join(lines[0].split()))
    assert "did not answer within 120 s" in " ".join(line.strip() for line in lines)
