"""History: every run with why it did (or did not) act; a chart of runs per day and model latency.

The table pages lazily over an index (cheap on the GUI thread at any size); the chart's GROUP BY over
thirty days of runs is computed on a background task.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.citations import run_because
from ...core.feedback import REASON_LABELS, ActOnRate, Feedback, FeedbackReason, act_on_text, outcome
from ...core.models import RunRecord
from ...core.ports import StoreError
from ...core.present import acted, late_by, schedule_notes, task_of
from ...core.refusals import SHOWN_STATUSES, status_words
from ...store import SqliteStore
from ...store.db import Database
from ...store.feedback import FeedbackRepo
from ...store.runs import RunRepo
from ..icons import app_icon
from ..services.tasks import Task, Tasks
from .models.history_model import STATUS_LABELS, HistoryModel
from .not_useful import DontSuggest, NotUsefulButton
from .run_chart import RunChart
from .window_state import WindowMemory

CHART_DAYS = 30


def _ms(value: int | float | None) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def feedback_line(run: RunRecord, events: Sequence[Feedback], now: float) -> str | None:
    """What the user said about the run's action, for its details (None: a run that took no action)."""
    if not acted(run) and not events:
        return None
    words = []
    for event in events:
        why = f" ({REASON_LABELS[event.reason]})" if event.reason else ""
        rule = f", rule “{event.rule}”" if event.rule else ""
        words.append(f"{event.kind.replace('_', ' ')}{why} from the {event.source}{rule}")
    said = f" — {'; '.join(words)}" if words else ""
    return f"Your word: {outcome(events, run.finished_at or run.started_at, now)}{said}"


def _why(run: RunRecord) -> str:
    """What the action followed and what called for it (#26): "Why: because rule 2 (“…”) and post #22"."""
    cited = run_because(run)
    return f"Why: {cited}" if cited else ""


def run_details(run: RunRecord, events: Sequence[Feedback] = (), now: float | None = None) -> str:
    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"

    parts = [
        f"Run {run.id}",
        f"Thread: {run.thread_id}   Trigger: {run.trigger}{' (dry run)' if run.dry_run else ''}   "
        f"Model: {run.model or '—'}",
        f"Status: {status_words(run.status, run.error_kind)}",  # as the column says it
        f"Reason: {run.reason or '—'}",
        *filter(None, [f"Task: {task}" if (task := task_of(run)) else ""]),
        *filter(None, [_why(run)]),
        *filter(None, [feedback_line(run, events, time.time() if now is None else now)]),
        f"Started: {when(run.started_at)}   Finished: {when(run.finished_at)}",
        f"LLM: {_ms(run.llm_ms)} ms   Total: {_ms(run.total_ms)} ms   "
        f"Tokens: {run.prompt_tokens or '—'} in / {run.completion_tokens or '—'} out",
    ]
    if run.decision_mode:
        spent = f" (reasoning call {_ms(run.reasoning_ms)} ms of the LLM time)" if run.reasoning_ms is not None else ""
        parts.append(f"Mode: {run.decision_mode}{spent}")
    if run.slot_at is not None:
        parts.append(f"Slot: {when(run.slot_at)} (started {late_by(run):.0f} s after it)")
    if run.warnings:
        parts.append("Warnings:\n  " + "\n  ".join(run.warnings))
    if notes := schedule_notes(run):
        parts.append("Notes:\n  " + "\n  ".join(notes))
    parts.append("\nDecision:\n" + (json.dumps(run.decision, indent=2, ensure_ascii=False) if run.decision else "—"))
    if run.action_result:
        parts.append("\nWritten:\n" + json.dumps(run.action_result, indent=2, ensure_ascii=False))
    if run.reasoning is not None:
        parts.append("\nReasoning (first call, free text):\n" + (run.reasoning or "(empty)"))
    parts.append("\nRaw reply:\n" + (run.raw_reply if run.raw_reply is not None else "—"))
    parts.append("\nPrompt:\n" + (run.prompt if run.prompt is not None else "—"))
    return "\n".join(parts)


class HistoryWindow(QWidget):
    def __init__(
        self, store: SqliteStore, db_path: Path, memory: WindowMemory, threads: Callable[[], list[tuple[str, str]]]
    ) -> None:
        super().__init__()
        self.setWindowTitle("History — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._store = store
        self._db_path = db_path
        self._memory = memory
        self._threads = threads
        self._chart_task: Task | None = None
        self._tasks = Tasks(self)

        self.chart = RunChart(CHART_DAYS)
        self.thread_box = QComboBox()
        self.thread_box.setAccessibleName("Filter by thread")
        self.status_box = QComboBox()
        self.status_box.setAccessibleName("Filter by status")
        self.status_box.addItem("All statuses", None)
        for status in SHOWN_STATUSES:  # "refused" apart from "failed", as the status column shows them
            self.status_box.addItem(status, status)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Refresh history")
        thread_label = QLabel("&Thread:")
        thread_label.setBuddy(self.thread_box)
        status_label = QLabel("&Status:")
        status_label.setBuddy(self.status_box)
        filters = QHBoxLayout()
        for widget in (thread_label, self.thread_box, status_label, self.status_box):
            filters.addWidget(widget)
        filters.addStretch(1)
        filters.addWidget(self.refresh_button)

        self.model = HistoryModel(store.runs, self)
        self.table = QTableView()
        self.table.setAccessibleName("Runs")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        # Status as wide as its longest label ("refused (rejected before)"), so no refusal is cut to "refused …"
        status_width = max(self.table.fontMetrics().horizontalAdvance(label) for label in STATUS_LABELS) + 16
        for column, width in enumerate((150, 90, 110, max(80, status_width), 0, 70)):
            if width:
                self.table.setColumnWidth(column, width)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Run details")
        self.detail.setPlaceholderText("Select a run to see its prompt, raw reply, decision and timings.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self._detail_box())
        splitter.setSizes([380, 220])

        layout = QVBoxLayout(self)
        layout.addWidget(self.chart)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)

        self.thread_box.currentIndexChanged.connect(self._apply_filters)
        self.status_box.currentIndexChanged.connect(self._apply_filters)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_select)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        self._fill_threads()
        if not memory.restore(self, "history"):
            self.resize(900, 680)

    def _detail_box(self) -> QWidget:
        """The run's details, and under them the act-on line and "Not useful" (#26)."""
        self.not_useful = NotUsefulButton(self._not_useful, self._dont_suggest)
        self.not_useful.setEnabled(False)
        self.act_on = QLabel("")
        self.act_on.setAccessibleName("Share of the agent's actions you kept")
        self.dont_suggest = DontSuggest(self, self._store, self._tasks, "history", self._rule_said)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.detail, 1)
        row = QHBoxLayout()
        row.addWidget(self.act_on, 1)
        row.addWidget(self.dont_suggest.undo_button)
        row.addWidget(self.not_useful)
        layout.addLayout(row)
        return box

    def _fill_threads(self) -> None:
        current = self.thread_box.currentData()
        self.thread_box.blockSignals(True)
        self.thread_box.clear()
        self.thread_box.addItem("All threads", None)
        for thread_id, title in self._threads():
            self.thread_box.addItem(title, thread_id)
        index = self.thread_box.findData(current)
        self.thread_box.setCurrentIndex(max(index, 0))
        self.thread_box.blockSignals(False)

    def _apply_filters(self) -> None:
        self.model.set_filters(self.thread_box.currentData(), self.status_box.currentData())
        self.detail.clear()
        self.not_useful.setEnabled(False)
        self._load_chart()
        self._load_act_on()

    def refresh(self) -> None:
        self._fill_threads()
        self._apply_filters()

    @Slot(object)
    def on_run_finished(self, _run: object) -> None:
        if self.isVisible():
            self.refresh()

    def show_run(self, thread_id: str | None, run_id: str | None) -> None:
        """Show one thread's runs with `run_id` selected (a notification's "Open history")."""
        self._fill_threads()
        index = self.thread_box.findData(thread_id) if thread_id else 0
        self.thread_box.setCurrentIndex(max(index, 0))  # re-filters through currentIndexChanged
        self._apply_filters()
        for row in range(self.model.rowCount()):
            if self.model.run_at(row).id == run_id:
                self.table.selectRow(row)
                self.table.scrollTo(self.model.index(row, 0))
                break

    def _load_chart(self) -> None:
        if self._chart_task is not None:
            self._chart_task.cancel()
        thread_id = self.thread_box.currentData()
        since = time.time() - CHART_DAYS * 86400
        db_path = self._db_path

        def work(_task: Task) -> list[tuple[str, str, int, float | None]]:
            db = Database(db_path)
            try:
                return RunRepo(db).daily_stats(since, thread_id)
            finally:
                db.close()

        self.chart.loading = True
        self.chart.update()
        self._chart_task = self._tasks.start(work, self.chart.set_stats)

    def _on_select(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_selected()

    def _selected_run(self) -> RunRecord | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        summary = self.model.run_at(rows[0].row())
        return self._store.runs.get(summary.id) or summary  # one row by primary key: cheap

    def _show_selected(self) -> None:
        full = self._selected_run()
        self.not_useful.setEnabled(full is not None and acted(full))
        if full is None:
            return
        self.detail.setPlainText(run_details(full, self._store.feedback.for_run(full.id)))  # by index: cheap

    def _not_useful(self, reason: FeedbackReason | None) -> None:
        run = self._selected_run()
        if run is None:
            return
        try:
            event = self._store.feedback.record(run.id, "not_useful", "history", reason)
        except StoreError as exc:
            QMessageBox.warning(self, "Not useful", str(exc))
            return
        self._show_selected()
        self._load_act_on()
        if event.note:  # a daily cap stepped down: said where the user acted
            QMessageBox.information(self, "Fewer actions a day", event.note)

    def _dont_suggest(self) -> None:
        run = self._selected_run()
        if run is not None:
            self.dont_suggest.offer(run.id)

    def _rule_said(self, text: str) -> None:
        self._show_selected()
        self.act_on.setText(text)  # until the next refresh puts the act-on line back

    def _load_act_on(self) -> None:
        """The share of the agent's actions the user kept this week and this month (the thread filter's), off
        the GUI thread: a month of runs is read for it."""
        thread_id, db_path, now = self.thread_box.currentData(), self._db_path, time.time()

        def work(_task: Task) -> tuple[ActOnRate, ActOnRate]:
            db = Database(db_path)
            try:
                repo = FeedbackRepo(db)
                return repo.act_on(thread_id, now - 7 * 86400), repo.act_on(thread_id, now - 30 * 86400)
            finally:
                db.close()

        self._tasks.start(work, self._show_act_on)

    def _show_act_on(self, rates: tuple[ActOnRate, ActOnRate]) -> None:
        self.act_on.setText(act_on_text(*rates))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.model.rowCount() == 0:
            self.model.reload()
        self._load_chart()
        self._load_act_on()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._tasks.cancel_all()  # a chart query still running delivers to nobody
        self._memory.save(self, "history")
        super().closeEvent(event)
