"""Feed posts, newest first, a page at a time (keyset on the post id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt

from ....core.models import FeedPost
from ....store.feed import FeedRepo
from .paged import ROOT, Index, PagedTableModel

PAGE = 100
COLUMNS = ("#", "Title", "Score", "Comments", "Thread", "Time")


class FeedModel(PagedTableModel[FeedPost]):
    PostRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, feed: FeedRepo, parent: Any = None) -> None:
        super().__init__(
            COLUMNS, lambda last, n: feed.posts(limit=n, before_id=last.id if last else None), PAGE, parent
        )
        self._feed = feed

    def replace(self, posts: list[FeedPost], exhausted: bool) -> None:
        """Show `posts` (read off the GUI thread) in place of what was loaded."""
        self.beginResetModel()
        self._rows, self._exhausted = list(posts), exhausted
        self.endResetModel()

    def refresh_post(self, post_id: int) -> None:
        """Re-read one post (after a vote or undo) without resetting the view."""
        for row, post in enumerate(self._rows):
            if post.id == post_id:
                fresh = self._feed.get_post(post_id)
                if fresh is None:
                    self.beginRemoveRows(ROOT, row, row)
                    del self._rows[row]
                    self.endRemoveRows()
                else:
                    self._rows[row] = fresh
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        post = self._rows[index.row()]
        if role == self.PostRole:
            return post
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                post.id,
                post.title,  # a table cell is plain text
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
