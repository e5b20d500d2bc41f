"""#27 item 3 in the windows: a thread's notes with Resolve / Reopen in the Threads window, and a comment in the
Feed on the agent's question that offers to resolve the note the question was raised from. Real widgets
(offscreen), a real store, the loopback Ollama-protocol server behind a real runner."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.qt.windows.feed_window import FeedWindow
from heartbeat_desktop.qt.windows.threads_window import ThreadsWindow
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from tests.support.citing import Act
from tests.support.ollama_server import OllamaServer

QUESTION = json.dumps({"action": "post", "title": "Tuesday or Wednesday?", "content": "Which is it?", "reason": "r"})


def _lines(window: ThreadsWindow) -> list[str]:
    return [window.notes.list.item(i).text() for i in range(window.notes.list.count())]


def test_threads_window_lists_notes_and_resolves_and_reopens_them(qtbot, store: SqliteStore, data_dir) -> None:
    changes: list[bool] = []
    contradiction = store.threads.add_note("default", "Ana: Tuesday; Ben: Wednesday", "contradiction")
    store.threads.add_note("default", "Ana likes <b>mornings</b>", "memory")
    window = ThreadsWindow(store, WindowMemory(data_dir), on_change=lambda: changes.append(True))
    qtbot.addWidget(window)
    window.show()
    lines = _lines(window)
    assert lines[0].endswith("memory (open): Ana likes <b>mornings</b>")  # newest first, text as written
    assert lines[1] == f"#{contradiction} ⚠ contradiction (open): Ana: Tuesday; Ben: Wednesday"
    assert not window.notes.resolve_button.isEnabled() and not window.notes.reopen_button.isEnabled()
    assert window.notes.resolve_button.accessibleName() and window.notes.reopen_button.accessibleName()

    window.notes.list.setFocus()
    window.notes.list.setCurrentRow(1)
    assert window.notes.resolve_button.isEnabled() and not window.notes.reopen_button.isEnabled()
    window.notes.resolve_button.click()
    assert [n.kind for n in store.threads.notes("default")] == ["memory"]  # the agent no longer sees it
    assert _lines(window)[1].startswith(f"#{contradiction} ⚠ contradiction (resolved)")  # still listed
    assert window.notes.selected_note().id == contradiction and window.notes.reopen_button.isEnabled()
    assert changes == [True]

    qtbot.keyClick(window.notes.list, Qt.Key.Key_Return)  # the keyboard's way: Enter reopens a resolved note
    assert {n.id for n in store.threads.notes("default")} >= {contradiction} and len(changes) == 2
    assert "(open)" in _lines(window)[1]


def test_a_comment_on_the_agents_question_offers_to_resolve_its_note(
    qtbot, store: SqliteStore, data_dir, runner: HeartbeatRunner, ollama: OllamaServer, monkeypatch
) -> None:
    note_id = store.threads.add_note("default", "Ana: Tuesday; Ben: Wednesday", "contradiction")
    ollama.script(Act(QUESTION))
    run = runner.run("default")
    assert run.status == "ok" and run.decision["because"] == [f"n{note_id}"], run.decision  # raised from the note
    asked: list[str] = []

    def answer(box: QMessageBox) -> QMessageBox.StandardButton:
        asked.append(box.text())
        assert box.textFormat() == Qt.TextFormat.PlainText
        return QMessageBox.StandardButton.No if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "exec", answer)
    changes: list[bool] = []
    window = FeedWindow(store, WindowMemory(data_dir), on_change=lambda: changes.append(True))
    qtbot.addWidget(window)
    window.show()
    window.comment_box.setPlainText("It is Tuesday.")
    window.comment_button.click()
    assert "Ana: Tuesday; Ben: Wednesday" in asked[0] and "Does your comment answer it?" in asked[0]
    assert [n.id for n in store.threads.notes("default")] == [note_id]  # No: still open
    assert window.comments.item(0).text() == "Comment from you: It is Tuesday."
    window.comment_box.setPlainText("Confirmed with Ana.")
    window.comment_button.click()
    assert len(asked) == 2 and store.threads.notes("default") == []  # Yes: resolved
    assert window.feedback_note.text() == f"Resolved note #{note_id}."
    window.comment_box.setPlainText("One more.")
    window.comment_button.click()
    assert len(asked) == 2  # nothing open any more: nothing asked
    assert [c.content for c in store.feed.comments(run.action_result["post_id"])] == [
        "It is Tuesday.",
        "Confirmed with Ana.",
        "One more.",
    ]
