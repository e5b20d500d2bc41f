"""The list of threads (a handful: read whole)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from ....core.models import Thread
from ....store.threads import ThreadRepo

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invalid index: "the top level"


class ThreadsModel(QAbstractListModel):
    ThreadRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, threads: ThreadRepo, parent: Any = None) -> None:
        super().__init__(parent)
        self._repo = threads
        self._rows: list[Thread] = []

    def reload(self) -> None:
        self.beginResetModel()
        self._rows = self._repo.list()
        self.endResetModel()

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        thread = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            name = thread.title if thread.title.lower() == thread.id else f"{thread.title} ({thread.id})"
            return f"{name} — paused" if thread.paused else name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{thread.id} — HEARTBEAT.md in {thread.workspace or 'the data folder'}"
        if role == self.ThreadRole:
            return thread
        return None

    def row_of(self, thread_id: str) -> int:
        return next((i for i, t in enumerate(self._rows) if t.id == thread_id), -1)
