"""The editor's dry-run preview and replay (editor_window.py): what the chosen thread would do with the unsaved
text. **Dry-run preview** runs the real pipeline (precheck, context, prompt, the model, validation) on a
background task and writes nothing at all — not even a run record. **Replay last N runs** asks the thread's
recent recorded runs again with the text (their own context, model and mode; core/replay.py) and lists the
decisions it would change. Neither starts while the editor is still reading the thread's file, so both always
try the text of the file that thread reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.models import RunRecord
from ...store import SqliteStore
from ..services.tasks import Task, Tasks
from .editor_views import preview_summary
from .replay_view import ReplayView

if TYPE_CHECKING:  # what a preview or a replay needs is imported when one starts
    from ...core.replay import ReplayResult
    from ...core.runner import HeartbeatRunner

RESULT_TAB = 0
REPLAY_TAB = 3


class PreviewPane(QWidget):
    def __init__(
        self,
        db_path: Path,
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
        *,
        thread_id: Callable[[], str | None],
        text: Callable[[], str],
    ) -> None:
        """`thread_id`: the chosen thread (None while its file is loading); `text`: the editor's unsaved text."""
        super().__init__()
        self._db_path = db_path
        self._make_runner = make_runner
        self._thread_id = thread_id
        self._text = text
        self._preview: Task | None = None
        self._runner: HeartbeatRunner | None = None
        self._loading = False
        self._tasks = Tasks(self)
        self.preview_button = QPushButton("&Dry-run preview")
        self.preview_button.setAccessibleName("Dry-run preview of the unsaved text")
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setAccessibleName("Cancel the preview")
        self.cancel_button.setEnabled(False)
        self.replay_button = QPushButton("&Replay last")
        self.replay_button.setAccessibleName("Replay the thread's last runs with the unsaved text")
        self.replay_button.setToolTip(
            "Ask the thread's recent runs again with this text (their own context and model) and list the "
            "decisions it changes. Writes nothing."
        )
        self.replay_count = QSpinBox()
        self.replay_count.setRange(1, 50)
        self.replay_count.setValue(10)
        self.replay_count.setSuffix(" runs")
        self.replay_count.setAccessibleName("How many recent runs to replay")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setVisible(False)
        self.busy.setAccessibleName("Preview running")
        self.result = QPlainTextEdit(readOnly=True)
        self.result.setAccessibleName("Preview result")
        self.prompt = QPlainTextEdit(readOnly=True)
        self.prompt.setAccessibleName("Prompt sent")
        self.raw = QPlainTextEdit(readOnly=True)
        self.raw.setAccessibleName("Raw reply")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.result, "Result")
        self.tabs.addTab(self.prompt, "Prompt sent")
        self.tabs.addTab(self.raw, "Raw reply")
        self.replay_view = ReplayView()
        self.replay_summary, self.replay_table = self.replay_view.summary, self.replay_view.table
        self.tabs.addTab(self.replay_view, "Replay")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        preview_row = QHBoxLayout()
        for widget in (self.preview_button, self.replay_button, self.replay_count, self.cancel_button):
            preview_row.addWidget(widget)
        layout.addLayout(preview_row)
        layout.addWidget(self.busy)
        layout.addWidget(self.tabs, 1)
        self.preview_button.clicked.connect(self.start_preview)
        self.cancel_button.clicked.connect(self.cancel_preview)
        self.replay_button.clicked.connect(self.start_replay)

    def start_preview(self) -> None:
        thread_id = self._thread_id()
        if thread_id is None or self._preview is not None:
            return
        text = self._text()
        db_path, make_runner = self._db_path, self._make_runner

        def work(task: Task) -> RunRecord:
            with SqliteStore.worker(db_path) as store:
                runner = make_runner(store)
                self._runner = runner
                if task.cancelled.is_set():
                    raise RuntimeError("cancelled")
                return runner.run(thread_id, trigger="preview", dry_run=True, heartbeat_md_text=text, record=False)

        self._set_busy(True)
        self.tabs.setCurrentIndex(RESULT_TAB)  # from the Replay tab too: the answer is not left in a hidden tab
        self.result.setPlainText(f"Asking the model for thread {thread_id}…")
        self.prompt.clear()
        self.raw.clear()
        self._preview = self._tasks.start(work, self._on_preview, self._on_preview_error)

    def cancel_preview(self) -> None:
        if self._preview is None:
            return
        self._preview.cancel()
        runner = self._runner
        if runner is not None:
            runner.cancel()
        replaying = self.tabs.currentIndex() == REPLAY_TAB
        self._preview = None
        self._set_busy(False)
        if replaying:
            self.replay_view.say("Replay cancelled.")
        else:
            self.result.setPlainText("Preview cancelled.")

    def _on_preview(self, run: RunRecord) -> None:
        self._preview = None
        self._set_busy(False)
        self.result.setPlainText(preview_summary(run))
        self.result.setToolTip(run.model or "")  # the model's whole name, shortened in the summary
        self.prompt.setPlainText(run.prompt or "(no prompt: the precheck skipped the model)")
        self.raw.setPlainText(run.raw_reply if run.raw_reply is not None else "(no reply)")

    def _on_preview_error(self, message: str) -> None:
        self._preview = None
        self._set_busy(False)
        self.result.setPlainText(f"Preview failed: {message}")

    # ------------------------------------------------------------------ replay
    def start_replay(self) -> None:
        thread_id = self._thread_id()
        if thread_id is None or self._preview is not None:
            return
        from ...core.replay import replay

        text, count = self._text(), self.replay_count.value()
        db_path, make_runner = self._db_path, self._make_runner

        def work(task: Task) -> ReplayResult:
            with SqliteStore.worker(db_path) as store:
                runner = make_runner(store)
                self._runner = runner
                thread = store.get_thread(thread_id)
                fallback = {thread_id: thread.config} if thread else None
                runs = store.runs.asked(thread_id, count)
                task.progress.emit((0, len(runs)))
                return replay(
                    runs,
                    runner.llm,
                    heartbeat_md_text=text,
                    timeout_s=runner.llm_timeout_s,
                    default_model=runner.default_model,
                    fallback=fallback,
                    providers={p.name for p in store.providers.list()},  # each run asked of its own provider
                    progress=lambda done, total, _what: task.progress.emit((done, total)),
                    cancelled=task.cancelled.is_set,
                )

        self._set_busy(True)
        self.tabs.setCurrentIndex(REPLAY_TAB)
        self.replay_view.say(f"Asking the last {count} runs of thread {thread_id} again with this text…")
        self._preview = self._tasks.start(
            work, self._on_replay, self._on_replay_error, progress=self._on_replay_progress
        )

    def _on_replay_progress(self, value: object) -> None:
        done, total = cast(tuple[int, int], value)
        self.busy.setRange(0, max(total, 1))
        self.busy.setValue(done)

    def _on_replay(self, result: ReplayResult) -> None:
        self._preview = None
        self._set_busy(False)
        self.show_replay(result)

    def show_replay(self, result: ReplayResult) -> None:
        self.replay_view.show_result(result)

    def _on_replay_error(self, message: str) -> None:
        self._preview = None
        self._set_busy(False)
        self.replay_view.say(f"Replay failed: {message}")

    def set_loading(self, loading: bool) -> None:
        """The editor is reading another thread's file: nothing starts until its text is in."""
        self._loading = loading
        self._set_busy(self._preview is not None)

    def cancel_all(self) -> None:
        self._tasks.cancel_all()

    def _set_busy(self, busy: bool) -> None:
        self.busy.setRange(0, 0)
        self.busy.setVisible(busy)
        self.preview_button.setEnabled(not busy and not self._loading)
        self.replay_button.setEnabled(not busy and not self._loading)
        self.cancel_button.setEnabled(busy)

    @property
    def preview_running(self) -> bool:
        return self._preview is not None
