"""Feed posts, newest first, a page at a time (keyset on the post id)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from ...core.models import FeedPost
from ...store.feed import FeedRepo

PAGE = 100
COLUMNS = ("#", "Title", "Score", "Comments", "Thread", "Time")
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invalid index: "the top level"


class FeedModel(QAbstractTableModel):
    PostRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, feed: FeedRepo, parent: Any = None) -> None:
        super().__init__(parent)
        self._feed = feed
        self._rows: list[FeedPost] = []
        self._exhausted = False

    def reload(self) -> None:
        self.beginResetModel()
        self._rows, self._exhausted = [], False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def refresh_post(self, post_id: int) -> None:
        """Re-read one post (after a vote or undo) without resetting the view."""
        for row, post in enumerate(self._rows):
            if post.id == post_id:
                fresh = self._feed.get_post(post_id)
                if fresh is None:
                    self.beginRemoveRows(QModelIndex(), row, row)
                    del self._rows[row]
                    self.endRemoveRows()
                else:
                    self._rows[row] = fresh
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return

    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if parent.isValid() or self._exhausted:
            return
        before = self._rows[-1].id if self._rows else None
        page = self._feed.posts(limit=PAGE, before_id=before)
        if len(page) < PAGE:
            self._exhausted = True
        if page:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        post = self._rows[index.row()]
        if role == self.PostRole:
            return post
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                post.id,
                html.unescape(post.title),  # stored escaped; a table cell is plain text
                f"{post.score:+d}",
                post.comment_count,
                post.thread_id or "—",
                datetime.fromtimestamp(post.created_at).strftime("%Y-%m-%d %H:%M"),
            )[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (0, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def post_at(self, row: int) -> FeedPost:
        return self._rows[row]
