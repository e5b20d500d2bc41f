"""Settings → Compare models…: the decision-quality suite run on chosen models and modes, in the app.

The same `core.evaluation.evaluate` the `eval` command runs, on a background task with its own database
connection and model client: a progress bar that counts questions, Cancel that stops the call in flight
(the client's `cancel`) and keeps what was measured, and the table the CLI prints. Nothing is written.
The suite is the built-in one unless the user picks a file; situations that bring no HEARTBEAT.md use the
user's own, read on the task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ...core import heartbeat_md
from ...core.decide import DECISION_MODES
from ...core.evaluation import (
    TABLE_COLUMNS,
    EvalSettings,
    EvalSummary,
    evaluate,
)
from ...core.ports import LLMClient
from ...store import SqliteStore
from ...wiring import load_suite
from ..icons import app_icon
from ..model_names import full_model_name, set_model_item, set_model_label, short_model_name
from ..plain_text import plain_label
from ..services.tasks import Task, Tasks

COLUMNS = tuple(c[0].upper() + c[1:] for c in TABLE_COLUMNS)
LEGEND = (
    "Valid: the answer passed validation and the thread's rules. Right action: the action the situation calls "
    "for. Right target: the right post, where one is called for. Right rule: right, and citing the HEARTBEAT.md "
    "item the situation names. Wrong but valid: the format held, the judgement did not. False action: acted "
    "where the right answer was to do nothing. False writes: those the app's own rules would not have refused. "
    "Feedback right: right where earlier feedback should change the answer."
)
MODE_LABELS = {"direct": "Direct (one call)", "reason-first": "Reason first (two calls)"}


class CompareModelsDialog(QDialog):
    def __init__(
        self,
        db_path: Path,
        data_dir: Path,
        make_llm: Callable[[SqliteStore], LLMClient],
        models: Sequence[str],
        checked: Sequence[str],
        parent: QDialog | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare models — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._db_path, self._data_dir, self._make_llm = db_path, data_dir, make_llm
        self._tasks = Tasks(self)
        self._task: Task | None = None
        self._llm: LLMClient | None = None
        self._llm_lock = threading.Lock()
        self._suite_path: Path | None = None
        self._run = 0  # which run a result belongs to: a cancelled run's partial results still arrive
        self._stop = threading.Event()  # the running run's: evaluate stops at the next question
        self._cancelled: int | None = None  # the run the user cancelled, whose partial results are awaited
        self._asked = (0, 0)  # questions asked and in all, as progress last said

        intro = plain_label(
            "Asks each model, in each mode, what it would do in a suite of situations whose right answer is "
            "known, and counts how often it is valid, right, and how often it acts when nothing calls for it. "
            "Nothing is written to the feed or the history."
        )
        intro.setWordWrap(True)
        modes_row = self._choices(models, checked)
        self.suite_label = plain_label("Suite: built-in")
        self.suite_button = QPushButton("Choose suite &file…")
        self.builtin_button = QPushButton("Use &built-in")
        suite_row = QHBoxLayout()
        suite_row.addWidget(self.suite_label, 1)
        suite_row.addWidget(self.suite_button)
        suite_row.addWidget(self.builtin_button)
        self.start_button = QPushButton("&Start")
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Questions asked")
        keep = self.progress.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # Start and Cancel stay where they are when it shows (a click lands)
        self.progress.setSizePolicy(keep)
        self.progress.setVisible(False)
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.table = self._results_table()
        self.details = plain_label("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run_row = QHBoxLayout()
        run_row.addWidget(self.start_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        models_label = QLabel("&Models:")
        models_label.setBuddy(self.models)
        layout.addWidget(models_label)
        layout.addWidget(self.models, 1)
        layout.addLayout(modes_row)
        layout.addLayout(suite_row)
        layout.addLayout(run_row)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.details)
        layout.addWidget(close)
        self.resize(760, 620)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.suite_button.clicked.connect(self._choose_suite)
        self.builtin_button.clicked.connect(lambda: self.set_suite(None))

    def _choices(self, models: Sequence[str], checked: Sequence[str]) -> QHBoxLayout:
        """The models to compare (the checked ones first) and the modes; returns the modes' row."""
        self.models = QListWidget()
        self.models.setAccessibleName("Models to compare")
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for name in dict.fromkeys([*checked, *models]):
            item = QListWidgetItem()
            set_model_item(item, name)  # a .gguf path by its file name; the full name kept
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
            self.models.addItem(item)
        self.mode_boxes = {mode: QCheckBox(MODE_LABELS[mode]) for mode in DECISION_MODES}
        for box in self.mode_boxes.values():
            box.setChecked(True)
        modes_row = QHBoxLayout()
        modes_row.addWidget(QLabel("Modes:"))
        for box in self.mode_boxes.values():
            modes_row.addWidget(box)
        modes_row.addStretch(1)
        return modes_row

    def _results_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setAccessibleName("Results")
        table.setHorizontalHeaderLabels(COLUMNS)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    # ------------------------------------------------------------------ choices
    def chosen_models(self) -> list[str]:
        items = (self.models.item(i) for i in range(self.models.count()))
        return [full_model_name(i) for i in items if i is not None and i.checkState() == Qt.CheckState.Checked]

    def chosen_modes(self) -> list[str]:
        return [mode for mode, box in self.mode_boxes.items() if box.isChecked()]

    def set_suite(self, path: Path | None) -> None:
        self._suite_path = path
        self.suite_label.setText(f"Suite: {path}" if path else "Suite: built-in")

    def _choose_suite(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a suite", str(Path.home()), "Suites (*.toml *.json)")
        if name:
            self.set_suite(Path(name))

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        models, modes = self.chosen_models(), self.chosen_modes()
        if self._task is not None:
            return
        if not models or not modes:
            self.status.setText("Choose at least one model and one mode.")
            return
        suite_path, db_path, data_dir, make_llm = self._suite_path, self._db_path, self._data_dir, self._make_llm
        self._stop = stop = threading.Event()

        def work(task: Task) -> list[EvalSummary]:
            suite = load_suite(suite_path)
            own_md = heartbeat_md.read_heartbeat_md(data_dir)[0] if suite.needs_heartbeat_md() else None
            with SqliteStore.worker(db_path) as store:
                try:
                    app = store.settings.app()
                    llm = make_llm(store)
                    with self._llm_lock:
                        self._llm = llm
                    total = len(models) * len(modes) * len(suite.situations)
                    task.progress.emit((0, total, f"{len(suite.situations)} situations"))
                    asked = [0]  # answered before Cancel: the question Cancel cut short is no measurement

                    def said(done: int, total: int, what: str) -> None:
                        if not stop.is_set():
                            asked[0] = done
                        task.progress.emit((done, total, what))

                    summaries = evaluate(
                        suite,
                        models,
                        modes,
                        llm,
                        EvalSettings(app.llm_timeout, app.context_tokens, own_md),
                        progress=said,
                        cancelled=lambda: stop.is_set() or task.cancelled.is_set(),
                    )
                    return measured(summaries, asked[0]) if stop.is_set() else summaries
                finally:
                    with self._llm_lock:
                        self._llm = None

        self.table.setRowCount(0)
        self.details.clear()
        self.status.setText("Starting…")
        self.progress.setRange(0, 0)
        self._set_running(True)
        self._run += 1
        self._cancelled, self._asked = None, (0, 0)
        run = self._run
        self._task = self._tasks.start(work, partial(self._on_done, run), partial(self._on_failed, run))
        self._task.progress.connect(partial(self._on_progress, run, models))

    def cancel(self) -> None:
        """Stop at once: the call in flight ends, the dialog is idle again, and what was measured before it
        arrives as the run's partial results ("Cancelled after 3 of 8")."""
        if self._task is None:
            return
        self._stop.set()
        with self._llm_lock:
            llm = self._llm
        if llm is not None:
            llm.cancel()  # the call in flight ends now, not at its timeout
        self._task, self._cancelled = None, self._run
        self._set_running(False)
        self.status.setText(self._cancelled_text())

    def _cancelled_text(self) -> str:
        asked, total = self._asked
        return f"Cancelled after {asked} of {total}." if total else "Cancelled before the first question."

    def _on_progress(self, run: int, models: Sequence[str], value: object) -> None:
        if run != self._run or self._task is None:
            return
        done, total, what = cast(tuple[int, int, str], value)
        self._asked = (done, total)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        for model in models:  # "qwen.gguf · direct · …", the whole path in the tooltip
            what = what.replace(model, short_model_name(model))
        set_model_label(self.status, f"{done} of {total}: {what}", *models)

    def _on_done(self, run: int, result: object) -> None:
        if run != self._run:
            return  # a cancelled run's results, after another run started
        summaries = cast(list[EvalSummary], result)
        if self._cancelled == run:
            self.show_results(summaries, self._cancelled_text())
            return
        self._task = None
        self._set_running(False)
        self.show_results(summaries)

    def _on_failed(self, run: int, message: str) -> None:
        if run != self._run or self._cancelled == run:
            return  # a cancelled run ending: the status already says so
        self._task = None
        self._set_running(False)
        self.status.setText(f"Could not compare: {message}")

    def show_results(self, summaries: list[EvalSummary], cancelled: str | None = None) -> None:
        self.table.setRowCount(len(summaries))
        for row, summary in enumerate(summaries):
            for column, text in enumerate(summary.cells()):
                item = QTableWidgetItem(text)
                if column == 0:
                    set_model_item(item, summary.model)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        questions = sum(s.situations for s in summaries)
        errors = [f"{short_model_name(s.model)} ({s.mode}): {s.first_error()}" for s in summaries if s.errors]
        done = f"Done: {questions} questions asked." if not errors else "Done, with errors:"
        if cancelled is not None:
            done = cancelled + (" Errors:" if errors else "")
        set_model_label(self.status, done)
        set_model_label(self.details, "\n".join([*errors, LEGEND]), *(s.model for s in summaries if s.errors))
        self.fit_columns()

    def fit_columns(self) -> None:
        """Widen the dialog, within the screen, until every column shows: its 12 columns need about 1000 px, and
        at 760 the results past "False action" (false writes, feedback right, p50, tokens) were scrolled away."""
        hidden = self.table.horizontalHeader().length() - self.table.viewport().width()
        if hidden <= 0:
            return
        room = self.screen().availableGeometry().width()
        self.resize(min(self.width() + hidden + 2, room), self.height())

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.models, self.suite_button, self.builtin_button, *self.mode_boxes.values()):
            widget.setEnabled(not running)

    def done(self, code: int) -> None:
        self.cancel()
        self._run += 1  # closed: a cancelled run's results are for nobody
        super().done(code)


def measured(summaries: list[EvalSummary], asked: int) -> list[EvalSummary]:
    """The first `asked` answers of a cancelled run, the summary they end in marked cancelled: the call Cancel
    ended is an error of the user's making, not the model's, and counted it showed "0 % valid"."""
    kept: list[EvalSummary] = []
    for summary in summaries:
        if asked <= 0:
            break
        part = EvalSummary(summary.model, summary.mode, summary.results[:asked])
        asked -= len(part.results)
        part.cancelled = summary.cancelled or len(part.results) < len(summary.results)
        kept.append(part)
    return kept


__all__ = ["CompareModelsDialog"]
