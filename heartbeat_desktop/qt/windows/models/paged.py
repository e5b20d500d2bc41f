"""A table model that loads rows a page at a time from a keyset-paged query.

The view asks `canFetchMore`/`fetchMore` as it scrolls; each call runs one `fetch(last_row, page)` — an
index range scan however deep the page — so a million rows open as fast as ten. Subclasses only say how
a row is displayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Row = TypeVar("Row")
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()  # the invalid index: "the top level"


class PagedTableModel(QAbstractTableModel, Generic[Row]):
    def __init__(
        self, columns: tuple[str, ...], fetch: Callable[[Row | None, int], list[Row]], page: int, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._columns = columns
        self._fetch = fetch
        self._page = page
        self._rows: list[Row] = []
        self._exhausted = False

    def reload(self) -> None:
        self.beginResetModel()
        self._rows, self._exhausted = [], False
        self.endResetModel()
        self.fetchMore(ROOT)

    def canFetchMore(self, parent: Index = ROOT) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = ROOT) -> None:
        if parent.isValid() or self._exhausted:
            return
        page = self._fetch(self._rows[-1] if self._rows else None, self._page)
        if len(page) < self._page:
            self._exhausted = True
        if page:
            self.beginInsertRows(ROOT, len(self._rows), len(self._rows) + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._columns[section]
        return None
