"""Threads: add, rename, remove; for the selected thread its messages and notes (open and resolved, with Resolve
and Reopen: notes_pane.py), and a box to add one."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core.ports import StoreError
from ...store import DEFAULT_THREAD, SqliteStore
from ...store.threads import validate_slug
from ..icons import app_icon
from .models.threads_model import ThreadsModel
from .notes_pane import NotesPane
from .window_state import WindowMemory

MESSAGES_SHOWN = 100
ID_PROMPT = "Thread id (lowercase letters, digits, - or _):"


class ThreadsWindow(QWidget):
    def __init__(self, store: SqliteStore, memory: WindowMemory, on_change: Callable[[], None]) -> None:
        super().__init__()
        self.setWindowTitle("Threads — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._store = store
        self._memory = memory
        self._on_change = on_change

        self.model = ThreadsModel(store.threads, self)
        splitter = QSplitter()
        splitter.addWidget(self._threads_side())
        splitter.addWidget(self._entries_side())
        splitter.setSizes([220, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.list.selectionModel().currentChanged.connect(lambda *_: self._show_selected())
        self.add_button.clicked.connect(self.add_thread)
        self.rename_button.clicked.connect(self.rename_thread)
        self.remove_button.clicked.connect(self.remove_thread)
        self.pause_button.clicked.connect(self.toggle_paused)
        self.send_button.clicked.connect(self.add_entry)
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.add_entry)
        if not memory.restore(self, "threads"):
            self.resize(820, 600)

    def _threads_side(self) -> QWidget:
        """The threads, and what can be done to the chosen one."""
        self.list = QListView()
        self.list.setAccessibleName("Threads")
        self.list.setModel(self.model)
        self.add_button = QPushButton("&Add…")
        self.rename_button = QPushButton("Re&name…")
        self.remove_button = QPushButton("&Remove…")
        self.pause_button = QPushButton("&Pause")
        for button, name in (
            (self.add_button, "Add thread"),
            (self.rename_button, "Rename thread"),
            (self.remove_button, "Remove thread"),
            (self.pause_button, "Pause or resume this thread's heartbeats"),
        ):
            button.setAccessibleName(name)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        for button in (self.add_button, self.rename_button, self.remove_button, self.pause_button):
            row.addWidget(button)
        left_layout.addLayout(row)

        return left

    def _entries_side(self) -> QWidget:
        """The chosen thread's messages and notes, and a box to add one."""
        self.conversation = QTextBrowser()
        self.conversation.setAccessibleName("Messages")
        self.notes = NotesPane(self._store, self._on_change)
        self.input = QPlainTextEdit()
        self.input.setAccessibleName("New message or note")
        self.input.setPlaceholderText("Write a message to the agent, or a note for it to remember… (Ctrl+Enter sends)")
        self.input.setMaximumHeight(90)
        self.input.setTabChangesFocus(True)  # a message has no use for a tab character; Tab moves on
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind")
        self.kind.addItem("Message", "message")
        self.kind.addItem("Memory note", "memory")
        self.kind.addItem("Contradiction note", "contradiction")
        self.send_button = QPushButton("A&dd")
        self.send_button.setAccessibleName("Add message or note")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        messages_label = QLabel("&Messages (newest last):")
        messages_label.setBuddy(self.conversation)
        notes_label = QLabel("N&otes (an open contradiction reaches every heartbeat until resolved):")
        notes_label.setBuddy(self.notes.list)
        right_layout.addWidget(messages_label)
        right_layout.addWidget(self.conversation, 3)
        right_layout.addWidget(notes_label)
        right_layout.addWidget(self.notes, 2)
        right_layout.addWidget(self.input)
        send_row = QHBoxLayout()
        kind_label = QLabel("&Kind:")
        kind_label.setBuddy(self.kind)
        send_row.addWidget(kind_label)
        send_row.addWidget(self.kind)
        send_row.addStretch(1)
        send_row.addWidget(self.send_button)
        right_layout.addLayout(send_row)

        return right

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Threads changed outside this window (window_manager.Refreshable): read them again, keeping the
        selection."""
        self.reload()

    def reload(self, select: str | None = None) -> None:
        current = select or self.selected_id()
        self.model.reload()
        row = self.model.row_of(current) if current else 0
        self.list.setCurrentIndex(self.model.index(max(row, 0)))
        self._show_selected()

    def selected_id(self) -> str | None:
        index = self.list.currentIndex()
        thread = index.data(ThreadsModel.ThreadRole) if index.isValid() else None
        return thread.id if thread else None

    def _show_selected(self) -> None:
        thread_id = self.selected_id()
        self.remove_button.setEnabled(thread_id not in (None, DEFAULT_THREAD))
        self.rename_button.setEnabled(thread_id is not None)
        self.pause_button.setEnabled(thread_id is not None)
        thread = self._store.threads.get(thread_id) if thread_id else None
        self.pause_button.setText("Res&ume" if thread is not None and thread.paused else "&Pause")
        self.send_button.setEnabled(thread_id is not None)
        self.notes.show_thread(thread_id)
        if thread_id is None:
            self.conversation.clear()
            return
        messages = list(reversed(self._store.threads.messages(thread_id, MESSAGES_SHOWN)))
        # Each with its number, as the notes have theirs: a notification or `why` says "because … message 8",
        # and the message it cites must be found here (core/citations.py, ref_label).
        blocks = [
            f"<p><b>#{m.id} {m.role}</b> <small>{datetime.fromtimestamp(m.created_at):%Y-%m-%d %H:%M}</small><br>"
            f"{html.escape(m.text).replace(chr(10), '<br>')}</p>"
            for m in messages
        ]
        self.conversation.setHtml("".join(blocks) or "<p><i>No messages yet.</i></p>")
        self.conversation.verticalScrollBar().setValue(self.conversation.verticalScrollBar().maximum())

    # ------------------------------------------------------------------ actions
    def add_thread(self) -> None:
        thread_id = self._ask_thread_id()
        if thread_id is None:
            return
        title, ok = ask_text(self, "Add thread", "Title:", text=thread_id)
        if not ok:
            return
        try:
            self._store.threads.create(thread_id, title.strip() or None)
        except StoreError as exc:
            QMessageBox.warning(self, "Add thread", str(exc))
            return
        self.reload(select=thread_id)
        self._on_change()

    def _ask_thread_id(self) -> str | None:
        """A new, valid thread id, or None if cancelled. A bad or taken id is said in the dialog, asked again
        with the typed text kept (it once closed the dialog and lost it), before the title is asked for."""
        typed, why = "", ""
        while True:
            label = f"{why}\n\n{ID_PROMPT}" if why else ID_PROMPT
            typed, ok = ask_text(self, "Add thread", label, text=typed)
            if not ok or not typed.strip():
                return None
            thread_id = typed.strip()
            try:
                validate_slug(thread_id)
                if self._store.threads.get(thread_id) is not None:
                    raise StoreError(f"thread {thread_id!r} already exists")
            except StoreError as exc:
                why = str(exc)
                continue
            return thread_id

    def rename_thread(self) -> None:
        thread_id = self.selected_id()
        if thread_id is None:
            return
        thread = self._store.threads.require(thread_id)
        title, ok = ask_text(self, "Rename thread", "Title:", text=thread.title)
        if ok and title.strip():
            self._store.threads.rename(thread_id, title.strip())
            self.reload()
            self._on_change()

    def toggle_paused(self) -> None:
        """Pause or resume this thread's scheduled heartbeats (the app pauses one whose model keeps giving
        the same refused answer; this is where it is resumed)."""
        thread_id = self.selected_id()
        thread = self._store.threads.get(thread_id) if thread_id else None
        if thread is None:
            return
        self._store.threads.set_paused(thread.id, not thread.paused)
        self.reload(select=thread.id)
        self._on_change()

    def remove_thread(self) -> None:
        thread_id = self.selected_id()
        if thread_id is None or thread_id == DEFAULT_THREAD:
            return
        answer = QMessageBox.question(
            self,
            "Remove thread",
            f"Remove thread “{thread_id}” with its messages and notes?\n"
            "Its posts stay in the feed and its runs in History.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,  # Enter must not remove: removing cannot be undone
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self._store.threads.remove(thread_id)
        except StoreError as exc:
            QMessageBox.warning(self, "Remove thread", str(exc))
            return
        self.reload(select=DEFAULT_THREAD)
        self._on_change()

    def add_entry(self) -> None:
        thread_id = self.selected_id()
        text = self.input.toPlainText().strip()
        if thread_id is None or not text:
            return
        kind = self.kind.currentData()
        try:
            if kind == "message":
                self._store.threads.add_message(thread_id, text)
            else:
                self._store.threads.add_note(thread_id, text, kind)
        except StoreError as exc:
            QMessageBox.warning(self, "Add", str(exc))
            return
        self.input.clear()
        self._show_selected()
        self._on_change()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._memory.save(self, "threads")
        super().closeEvent(event)


ASK_WIDTH = 400  # the field: a title or an id fits, where Qt's own QInputDialog.getText was 200 px wide


def ask_text(parent: QWidget, title: str, label: str, text: str = "") -> tuple[str, bool]:
    """QInputDialog.getText's question in a dialog wide enough for what is typed in it."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setInputMode(QInputDialog.InputMode.TextInput)
    dialog.setLabelText(label)
    dialog.setTextValue(text)
    edit = dialog.findChild(QLineEdit)  # the dialog sizes itself to its field: a field as wide as a title needs
    if edit is not None:
        edit.setMinimumWidth(ASK_WIDTH)
    ok = dialog.exec() == QDialog.DialogCode.Accepted
    value = dialog.textValue()
    dialog.deleteLater()
    return value, ok
