"""Runs, newest first, fetched a page at a time (`canFetchMore`/`fetchMore`) with keyset paging."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt

from ....core.models import RUN_STATUSES, RunRecord
from ....core.refusals import REFUSAL_KINDS, status_words
from ....store.runs import RunRepo
from .paged import Index, PagedTableModel

PAGE = 200
COLUMNS = ("Time", "Thread", "Trigger", "Status", "Action", "Duration")


def _action(run: RunRecord) -> str:
    decision = run.decision or {}
    action = decision.get("action")
    if not action:
        return "—"
    if action == "post":
        return f"post “{decision.get('title', '')}”"
    if action in ("comment", "vote"):
        extra = decision.get("direction", "")
        return f"{action} {extra} #{decision.get('post_id')}".replace("  ", " ")
    return "none"


class HistoryModel(PagedTableModel[tuple[int, RunRecord]]):
    RunRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, runs: RunRepo, parent: Any = None) -> None:
        super().__init__(COLUMNS, self._next_page, PAGE, parent)
        self._runs = runs
        self.thread_filter: str | None = None
        self.status_filter: str | None = None

    def set_filters(self, thread_id: str | None, status: str | None) -> None:
        self.thread_filter, self.status_filter = thread_id, status
        self.reload()

    def _next_page(self, last: tuple[int, RunRecord] | None, limit: int) -> list[tuple[int, RunRecord]]:
        after = (last[1].started_at, last[0]) if last else None
        return self._runs.page(self.thread_filter, self.status_filter, after, limit)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self._rows[index.row()][1]
        if role == self.RunRole:
            return run
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            if column == 0:
                return datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
            if column == 1:
                return run.thread_id
            if column == 2:
                return run.trigger + (" (dry run)" if run.dry_run else "")
            if column == 3:
                return status_words(run.status, run.error_kind)
            if column == 4:
                return _action(run)
            if column == 5:
                return f"{(run.total_ms or 0) / 1000:.1f} s" if run.total_ms is not None else "—"
        if role == Qt.ItemDataRole.ToolTipRole and index.column() in (3, 4):
            return run.reason or None
        return None

    def run_at(self, row: int) -> RunRecord:
        return self._rows[row][1]


# Every label the status column can show, so the window can make the column as wide as the longest one.
STATUS_LABELS: tuple[str, ...] = (*RUN_STATUSES, *(status_words("failed", kind) for kind in REFUSAL_KINDS))
