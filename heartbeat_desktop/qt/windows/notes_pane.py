"""A thread's notes in the Threads window: open and resolved, with Resolve and Reopen (#27 item 3).

An open contradiction note reaches every heartbeat of its thread ("open contradiction") until it is resolved;
nothing in the window could close one before. Resolved notes stay listed (greyed, marked) so a wrong click
is undone with Reopen. The list reads and writes through the window's own store connection, one small
transaction per button, as the rest of the Threads window does.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ...core.models import Note
from ...core.ports import StoreError
from ...store import SqliteStore

NOTES_SHOWN = 100


def note_line(note: Note) -> str:
    """One note as the list shows it (plain text: a list item never renders markup)."""
    kind = "⚠ contradiction" if note.kind == "contradiction" else "• memory"
    state = "resolved" if note.resolved else "open"
    return f"#{note.id} {kind} ({state}): {' '.join(note.text.split())}"


class NotesPane(QWidget):
    def __init__(self, store: SqliteStore, on_change: Callable[[], None]) -> None:
        """`on_change`: a note was resolved or reopened (the scheduler re-reads: it changes what is new)."""
        super().__init__()
        self._store = store
        self._on_change = on_change
        self._thread_id: str | None = None
        self.list = QListWidget()
        self.list.setAccessibleName("Notes, open and resolved")
        self.list.setWordWrap(True)
        self.resolve_button = QPushButton("Re&solve note")
        self.resolve_button.setAccessibleName("Resolve the selected note: the agent no longer sees it")
        self.reopen_button = QPushButton("Reop&en note")
        self.reopen_button.setAccessibleName("Reopen the selected note: the agent sees it again")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.resolve_button)
        row.addWidget(self.reopen_button)
        layout.addLayout(row)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.list.itemActivated.connect(lambda _item: self.toggle_selected())
        self.resolve_button.clicked.connect(lambda: self.set_selected_resolved(True))
        self.reopen_button.clicked.connect(lambda: self.set_selected_resolved(False))
        self._update_buttons()

    def show_thread(self, thread_id: str | None) -> None:
        """List `thread_id`'s notes, newest first, keeping the selected note selected."""
        selected = self.selected_note()
        self._thread_id = thread_id
        self.list.clear()
        notes = self._store.threads.notes(thread_id, NOTES_SHOWN, include_resolved=True) if thread_id else []
        dim = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for note in notes:
            item = QListWidgetItem(note_line(note))
            item.setData(Qt.ItemDataRole.UserRole, note)
            if note.resolved:
                item.setForeground(dim)
            self.list.addItem(item)
            if selected is not None and note.id == selected.id:
                self.list.setCurrentItem(item)
        if not notes and thread_id:
            placeholder = QListWidgetItem("No notes yet.")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(placeholder)
        self._update_buttons()

    def selected_note(self) -> Note | None:
        item = self.list.currentItem()
        note = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return note if isinstance(note, Note) else None

    def set_selected_resolved(self, resolved: bool) -> None:
        note = self.selected_note()
        if note is None or note.resolved == resolved:
            return
        try:
            self._store.threads.set_note_resolved(note.thread_id, note.id, resolved)
        except StoreError as exc:
            QMessageBox.warning(self, "Resolve note" if resolved else "Reopen note", str(exc))
            return
        self.show_thread(self._thread_id)
        self._on_change()

    def toggle_selected(self) -> None:
        """Enter (or a double click) on a note: resolve an open one, reopen a resolved one."""
        note = self.selected_note()
        if note is not None:
            self.set_selected_resolved(not note.resolved)

    def _update_buttons(self) -> None:
        note = self.selected_note()
        self.resolve_button.setEnabled(note is not None and not note.resolved)
        self.reopen_button.setEnabled(note is not None and note.resolved)


def offer_resolve(parent: QWidget, store: SqliteStore, notes: tuple[Note, ...]) -> list[Note]:
    """After the user answered a post raised from open contradiction notes (store/answers.py): ask, note by note,
    whether the answer settles it, and resolve the ones the user says yes to. The question is plain text (the
    note's words are the user's or the agent's, never markup). Returns the notes resolved."""
    from .feed_window import ask_plain

    resolved: list[Note] = []
    for note in notes:
        question = (
            f"This post was raised from an open contradiction note of thread {note.thread_id}:\n\n"
            f"“{' '.join(note.text.split())}”\n\nDoes your comment answer it? Resolving the note stops the agent "
            "from seeing it as open (the Threads window can reopen it)."
        )
        if not ask_plain(parent, f"Resolve note #{note.id}?", question):
            continue
        try:
            resolved.append(store.threads.set_note_resolved(note.thread_id, note.id))
        except StoreError as exc:
            QMessageBox.warning(parent, "Resolve note", str(exc))
    return resolved
