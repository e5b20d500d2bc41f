"""The HEARTBEAT.md editor: text on the left, what the app understands of it on the right, live.

Save is atomic and keeps the previous version as HEARTBEAT.md.bak. Changes made on disk by another
editor are noticed. **Dry-run preview** runs the real pipeline (precheck, context, prompt, the model,
validation) on the *unsaved* text for a chosen thread, on a background task, and writes nothing at all —
not even a run record. **Replay last N runs** asks the thread's recent recorded runs again with the unsaved
text (their own context, model and mode; core/replay.py) and lists the decisions the edit would change —
the way to see what an edit does before saving it. It writes nothing either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFontDatabase, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core import heartbeat_md
from ...core.models import RunRecord
from ...files import EDITABLE_MAX_BYTES, atomic_write
from ...store import SqliteStore
from ..icons import app_icon
from ..plain_text import plain_label
from ..services.tasks import Task, Tasks
from .editor_views import preview_summary, render_instructions
from .replay_view import ReplayView
from .window_state import WindowMemory

if TYPE_CHECKING:  # what a preview or a replay needs is imported when one starts
    from ...core.replay import ReplayResult
    from ...core.runner import HeartbeatRunner

PARSE_DELAY_MS = 250
REPLAY_TAB = 3


class EditorWindow(QWidget):
    def __init__(
        self,
        path: Path,
        db_path: Path,
        memory: WindowMemory,
        threads: Callable[[], list[tuple[str, str]]],
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
    ) -> None:
        super().__init__()
        self.path = path
        self._db_path = db_path
        self._memory = memory
        self._threads = threads
        self._make_runner = make_runner
        self._saved_text = ""
        self._preview: Task | None = None
        self._tasks = Tasks(self)
        self._runner: HeartbeatRunner | None = None
        self.setWindowIcon(app_icon())

        splitter = QSplitter()
        splitter.addWidget(self._text_side(path))
        splitter.addWidget(self._preview_side())
        splitter.setSizes([520, 480])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PARSE_DELAY_MS)
        self._debounce.timeout.connect(self._reparse)
        self.text.textChanged.connect(self._on_edit)
        self.save_button.clicked.connect(self.save)
        self.reload_button.clicked.connect(self.load)
        self.preview_button.clicked.connect(self.start_preview)
        self.cancel_button.clicked.connect(self.cancel_preview)
        self.replay_button.clicked.connect(self.start_replay)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_disk_change)
        self._watcher.directoryChanged.connect(self._on_disk_change)
        if not memory.restore(self, "editor"):
            self.resize(1100, 700)
        self.load()

    def _text_side(self, path: Path) -> QWidget:
        """The file: its text, a banner for changes on disk, Reload and Save."""
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("HEARTBEAT.md text")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setTabChangesFocus(True)
        self.parsed = QTextBrowser()
        self.parsed.setAccessibleName("What the app understood")
        self.banner = plain_label()
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.reload_button = QPushButton("Re&load from disk")
        self.reload_button.setVisible(False)
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save HEARTBEAT.md")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.banner)
        left_layout.addWidget(self.text, 1)
        buttons = QHBoxLayout()
        self.path_label = QLabel(str(path))
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons.addWidget(self.path_label, 1)
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.save_button)
        left_layout.addLayout(buttons)

        return left

    def _preview_side(self) -> QWidget:
        """What the app understands of the text, and the dry-run preview and replay of it."""
        self.thread_box = QComboBox()
        self.thread_box.setAccessibleName("Thread to preview")
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

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        understood = QLabel("What the app &understands:")
        understood.setBuddy(self.parsed)
        right_layout.addWidget(understood)
        right_layout.addWidget(self.parsed, 3)
        preview_row = QHBoxLayout()
        thread_label = QLabel("&Thread:")
        thread_label.setBuddy(self.thread_box)
        for widget in (
            thread_label,
            self.thread_box,
            self.preview_button,
            self.replay_button,
            self.replay_count,
            self.cancel_button,
        ):
            preview_row.addWidget(widget)
        right_layout.addLayout(preview_row)
        right_layout.addWidget(self.busy)
        right_layout.addWidget(self.tabs, 4)

        return right

    # ------------------------------------------------------------------ file
    @property
    def modified(self) -> bool:
        return self.text.toPlainText() != self._saved_text

    def load(self) -> None:
        try:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size > EDITABLE_MAX_BYTES:
                raise OSError(f"{self.path.name} is {size // 1024} KB; the editor opens files up to 1 MB")
        except OSError as exc:
            self._show_banner(f"Cannot open {self.path}: {exc}")
            self.text.setReadOnly(True)
            return
        text, warnings = heartbeat_md.read_heartbeat_md(self.path)
        self._saved_text = text
        self.text.setPlainText(text)
        self.replay_view.reset()  # a replay of the text before the reload is about another text
        self.banner.setVisible(False)
        self.reload_button.setVisible(False)
        if warnings and self.path.exists():
            self._show_banner("; ".join(warnings))
        self._watch()
        self._update_title()
        self._reparse()

    def save(self) -> bool:
        text = self.text.toPlainText()
        try:
            self._watcher.blockSignals(True)
            atomic_write(self.path, with_final_newline(text), backup=True)
        except OSError as exc:
            QMessageBox.critical(
                self, "Save HEARTBEAT.md", f"Could not save {self.path}:\n{exc}\n\nYour text is still here."
            )
            return False
        finally:
            self._watcher.blockSignals(False)
        self._saved_text = text
        self.banner.setVisible(False)
        self.reload_button.setVisible(False)
        self._watch()
        self._update_title()
        return True

    def _watch(self) -> None:
        for old in self._watcher.files() + self._watcher.directories():
            self._watcher.removePath(old)
        if self.path.exists():
            self._watcher.addPath(str(self.path))
        self._watcher.addPath(str(self.path.parent))  # editors that replace the file by renaming

    def _on_disk_change(self, _path: str) -> None:
        text, _warnings = heartbeat_md.read_heartbeat_md(self.path)
        if text in (self._saved_text, with_final_newline(self._saved_text)):
            self._watch()
            return
        if not self.modified:
            self.load()
            self._show_banner("HEARTBEAT.md was changed on disk; reloaded.")
            return
        self._show_banner(
            "HEARTBEAT.md was changed on disk while you were editing. Save keeps your text; Reload takes the file's."
        )
        self.reload_button.setVisible(True)
        self._watch()

    def _show_banner(self, text: str) -> None:
        self.banner.setText(f"⚠ {text}")
        self.banner.setVisible(True)

    # ------------------------------------------------------------------ live parse
    def _on_edit(self) -> None:
        self._update_title()
        self._debounce.start()

    def _reparse(self) -> None:
        self.parsed.setHtml(render_instructions(heartbeat_md.parse(self.text.toPlainText())))

    def _update_title(self) -> None:
        mark = "*" if self.modified else ""
        self.setWindowTitle(f"{mark}HEARTBEAT.md — Heartbeat Desktop")
        self.save_button.setEnabled(self.modified or not self.path.exists())

    # ------------------------------------------------------------------ dry-run preview
    def fill_threads(self) -> None:
        current = self.thread_box.currentData()
        self.thread_box.clear()
        for thread_id, title in self._threads():
            self.thread_box.addItem(title, thread_id)
        index = self.thread_box.findData(current)
        self.thread_box.setCurrentIndex(max(index, 0))

    def start_preview(self) -> None:
        thread_id = self.thread_box.currentData()
        if thread_id is None or self._preview is not None:
            return
        text = self.text.toPlainText()
        db_path, make_runner = self._db_path, self._make_runner

        def work(task: Task) -> RunRecord:
            with SqliteStore.worker(db_path) as store:
                runner = make_runner(store)
                self._runner = runner
                if task.cancelled.is_set():
                    raise RuntimeError("cancelled")
                return runner.run(thread_id, trigger="preview", dry_run=True, heartbeat_md_text=text, record=False)

        self._set_busy(True)
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
        self.prompt.setPlainText(run.prompt or "(no prompt: the precheck skipped the model)")
        self.raw.setPlainText(run.raw_reply if run.raw_reply is not None else "(no reply)")

    def _on_preview_error(self, message: str) -> None:
        self._preview = None
        self._set_busy(False)
        self.result.setPlainText(f"Preview failed: {message}")

    # ------------------------------------------------------------------ replay
    def start_replay(self) -> None:
        thread_id = self.thread_box.currentData()
        if thread_id is None or self._preview is not None:
            return
        from ...core.replay import replay

        text, count = self.text.toPlainText(), self.replay_count.value()
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

    def _set_busy(self, busy: bool) -> None:
        self.busy.setRange(0, 0)
        self.busy.setVisible(busy)
        self.preview_button.setEnabled(not busy)
        self.replay_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    @property
    def preview_running(self) -> bool:
        return self._preview is not None

    # ------------------------------------------------------------------ window
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fill_threads()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.modified:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "HEARTBEAT.md has unsaved changes. Save them?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Save,
            )
            if answer == QMessageBox.StandardButton.Cancel or (
                answer == QMessageBox.StandardButton.Save and not self.save()
            ):
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Discard:
                self.text.setPlainText(self._saved_text)
        self.cancel_preview()
        self._tasks.cancel_all()
        self._memory.save(self, "editor")
        super().closeEvent(event)


def with_final_newline(text: str) -> str:
    """What a saved text file ends with (POSIX, and every editor a user may also open it in): a newline."""
    return text if not text or text.endswith("\n") else text + "\n"
