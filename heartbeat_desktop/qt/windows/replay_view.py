"""The editor's Replay tab: what the last replay found, and nothing when there is nothing to show.

Apart from the editor window so the tab's states live in one place (#27 item 8): a result is cleared when
the text is reloaded from disk (it was about another text), and a replay that changed nothing says so in
words ("Nothing changed: N runs, the same decisions") instead of showing an empty table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..plain_text import plain_label
from .editor_views import replay_cells, replay_summary

if TYPE_CHECKING:
    from ...core.replay import ReplayResult

HINT = "Replay the thread's recent runs to see which decisions this text changes."


class ReplayView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = plain_label(HINT)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setAccessibleName("Decisions the text changes")
        self.table.setHorizontalHeaderLabels(("Run", "Recorded decision", "With this text"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # The run fits its column; the two decisions share the rest and wrap (a long post title or a reason cut
        # "With this text" off at the right edge when every column sized itself to its contents).
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setVisible(False)  # a table only when there are rows for it
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addStretch(0)

    def say(self, text: str) -> None:
        """A state without rows (asking, cancelled, failed): the words, and no table."""
        self.table.setRowCount(0)
        self.table.setVisible(False)
        self.summary.setText(text)

    def reset(self) -> None:
        """The text was reloaded: an earlier result was about another text."""
        self.say(HINT)

    def show_result(self, result: ReplayResult) -> None:
        changed = [item for item in result.items if item.changed]
        self.table.setRowCount(len(changed))
        for row, item in enumerate(changed):
            for column, cell in enumerate(replay_cells(item)):
                cell_item = QTableWidgetItem(cell)
                cell_item.setToolTip(cell)
                self.table.setItem(row, column, cell_item)
        self.table.setVisible(bool(changed))
        self.summary.setText(replay_summary(result))
