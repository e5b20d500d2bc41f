"""The HEARTBEAT.md editor: text on the left, what the app understands of it on the right, live.

It edits the file the chosen thread reads (its workspace's, or the data folder's: editor_file.py), says which,
and reloads it off the GUI thread when another thread is chosen; a missing file is said, and only the user's
"Create it from the template" writes one. Save is atomic and keeps the previous version as HEARTBEAT.md.bak.
Changes made on disk by another editor are noticed. The dry-run preview and the replay of the unsaved text
for the chosen thread are editor_preview.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFontDatabase, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core import heartbeat_md
from ...files import atomic_write
from ...store import SqliteStore
from ..icons import app_icon
from ..plain_text import plain_label
from ..services.tasks import Task, Tasks
from .editor_file import (
    ThreadFile,
    ask_save,
    create_from_template,
    missing_text,
    problem_text,
    read_thread_file,
    with_final_newline,
)
from .editor_preview import PreviewPane
from .editor_views import render_instructions
from .window_state import WindowMemory

if TYPE_CHECKING:  # what a preview or a replay needs is imported when one starts
    from ...core.runner import HeartbeatRunner

PARSE_DELAY_MS = 250


class EditorWindow(QWidget):
    def __init__(
        self,
        path: Path,
        db_path: Path,
        memory: WindowMemory,
        threads: Callable[[], list[tuple[str, str]]],
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
        thread_id: str | None = None,
    ) -> None:
        """`path`: the data folder's HEARTBEAT.md (what a thread without a workspace reads); `thread_id`: the
        thread whose file to open first (a notification's "Open HEARTBEAT.md"), else the first thread."""
        super().__init__()
        self.path = self._default_path = path
        self._db_path = db_path
        self._memory = memory
        self._threads = threads
        self._make_runner = make_runner
        self._saved_text = ""
        self._file: ThreadFile | None = None
        self._loading: Task | None = None
        self._tasks = Tasks(self)
        self.setWindowIcon(app_icon())

        splitter = QSplitter()
        splitter.addWidget(self._text_side(path))
        splitter.addWidget(self._preview_side())
        splitter.setSizes([520, 480])
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        thread_label = QLabel("&Thread:")
        thread_label.setBuddy(self.thread_box)
        top.addWidget(thread_label)
        top.addWidget(self.thread_box)
        top.addWidget(self.path_label, 1)
        layout.addLayout(top)
        layout.addWidget(self.banner)  # across the window: beside the text it ran into the right-hand heading
        layout.addWidget(splitter, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PARSE_DELAY_MS)
        self._debounce.timeout.connect(self._reparse)
        self.text.textChanged.connect(self._on_edit)
        self.save_button.clicked.connect(self.save)
        self.reload_button.clicked.connect(self.load)
        self.create_button.clicked.connect(self.create_from_template)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_disk_change)
        self._watcher.directoryChanged.connect(self._on_disk_change)
        if not memory.restore(self, "editor"):
            self.resize(1100, 700)
        self.fill_threads(thread_id)
        self.thread_box.currentIndexChanged.connect(self._on_thread_chosen)
        self.load()

    def _text_side(self, path: Path) -> QWidget:
        """The file: its text, a banner for changes on disk or a missing file, Create, Reload and Save."""
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("HEARTBEAT.md text")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setTabChangesFocus(True)
        self.parsed = QTextBrowser()
        self.parsed.setAccessibleName("What the app understood")
        self.banner = plain_label()
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.create_button = QPushButton("Create it from the te&mplate")
        self.create_button.setAccessibleName("Create the thread's HEARTBEAT.md from the template")
        self.create_button.setVisible(False)
        self.reload_button = QPushButton("Re&load from disk")
        self.reload_button.setVisible(False)
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save HEARTBEAT.md")
        self.path_label = plain_label(str(path))
        self.path_label.setAccessibleName("The file being edited")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.text, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.create_button)
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.save_button)
        left_layout.addLayout(buttons)

        return left

    def _preview_side(self) -> QWidget:
        """What the app understands of the text, and the dry-run preview and replay of it."""
        self.thread_box = QComboBox()
        self.thread_box.setAccessibleName("Thread whose HEARTBEAT.md to edit and preview")
        self.preview = PreviewPane(
            self._db_path,
            self._make_runner,
            thread_id=lambda: None if self._loading is not None else self.thread_box.currentData(),
            text=self.text.toPlainText,
        )
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        understood = QLabel("What the app &understands:")
        understood.setBuddy(self.parsed)
        right_layout.addWidget(understood)
        right_layout.addWidget(self.parsed, 3)
        right_layout.addWidget(self.preview, 4)
        return right

    # ------------------------------------------------------------------ file
    @property
    def modified(self) -> bool:
        return self.text.toPlainText() != self._saved_text

    def unsaved(self) -> str | None:
        """For `heartbeat-desktop quit`, which is told instead of a dialog being shown (window_manager.HoldsUnsaved)."""
        return "the HEARTBEAT.md editor has unsaved changes" if self.modified else None

    def discard_unsaved(self) -> None:
        """`quit --discard`: the text goes back to what the file holds, so closing asks nothing."""
        self.text.setPlainText(self._saved_text)

    @property
    def loading(self) -> bool:
        return self._loading is not None

    def load(self, note: str | None = None) -> None:
        """(Re)read the chosen thread's file on a background task; `note` is said once it is shown."""
        thread_id, title = self.thread_box.currentData(), self.thread_box.currentText()
        if thread_id is None:
            thread_id, title = "", "threads without a workspace"
        if self._loading is not None:
            self._loading.cancel()
        db_path, default = self._db_path, self._default_path
        self.text.setReadOnly(True)  # until the thread's text is in
        task = self._loading = self._tasks.start(
            lambda _task: read_thread_file(db_path, default, thread_id, title),
            # An earlier load's answer may already be queued when another thread is chosen: only the last counts.
            lambda file: self._on_loaded(file, note) if self._loading is task else None,
            lambda message: self._on_load_error(message) if self._loading is task else None,
        )
        self.preview.set_loading(True)

    def _on_loaded(self, file: ThreadFile, note: str | None) -> None:
        self._loading = None
        self._file, self.path = file, file.path
        self.path_label.setText(file.describe())
        self.reload_button.setVisible(False)
        self.create_button.setVisible(not file.exists and file.problem is None)
        self.preview.set_loading(False)
        if file.problem is not None:
            # Said as the runner says it; the previous thread's text is not left in the box.
            self._saved_text = ""
            self.text.setPlainText("")
            self._show_banner(problem_text(file))
            self.parsed.setPlainText(problem_text(file))
            self._watch()
            return
        self._saved_text = file.text
        self.text.setPlainText(file.text)
        self.preview.replay_view.reset()  # a replay of the text before the reload is about another text
        self.text.setReadOnly(False)
        self.banner.setVisible(False)
        if note or not file.exists or file.warnings:
            self._show_banner(note or (missing_text(file) if not file.exists else "; ".join(file.warnings)))
        self._watch()
        self._update_title()
        self._reparse()

    def _on_load_error(self, message: str) -> None:
        self._loading = None
        self.preview.set_loading(False)
        self._show_banner(f"Cannot open the thread's HEARTBEAT.md: {message}")

    def create_from_template(self) -> None:
        """The user's word: write the template where the chosen thread reads (never over an existing file)."""
        try:
            create_from_template(self.path)
        except OSError as exc:
            QMessageBox.critical(self, "Create HEARTBEAT.md", f"Could not create {self.path}:\n{exc}")
            return
        self.load(f"Created {self.path} from the template.")

    def save(self) -> bool:
        text = self.text.toPlainText()
        if self._loading is not None or (self._file is not None and self._file.problem is not None):
            return False
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
        if self._file is not None and not self._file.exists:
            self._file = replace(self._file, exists=True)
            self.path_label.setText(self._file.describe())
        self.create_button.setVisible(False)
        self.banner.setVisible(False)
        self.reload_button.setVisible(False)
        self._watch()
        self._update_title()
        return True

    def _on_thread_chosen(self, _index: int) -> None:
        """Another thread: its own file. Unsaved text of the one shown is saved, dropped or kept (Cancel)."""
        chosen = self.thread_box.currentData()
        if self._file is None:  # the first file is still loading: load the chosen one instead
            self.load()
            return
        if chosen == self._file.thread_id:
            return
        if self.modified and not self._settle_unsaved():
            self.thread_box.blockSignals(True)
            self.thread_box.setCurrentIndex(max(self.thread_box.findData(self._file.thread_id), 0))
            self.thread_box.blockSignals(False)
            return
        self.load()

    def _settle_unsaved(self) -> bool:
        """Ask about unsaved text; False when the user chose Cancel (or the save failed)."""
        answer = ask_save(self, str(self.path))
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        self.text.setPlainText(self._saved_text)
        return True

    def _watch(self) -> None:
        for old in self._watcher.files() + self._watcher.directories():
            self._watcher.removePath(old)
        if self.path.exists():
            self._watcher.addPath(str(self.path))
        self._watcher.addPath(str(self.path.parent))  # editors that replace the file by renaming

    def _on_disk_change(self, _path: str) -> None:
        if self._loading is not None:  # the load in flight reads the file as it is now
            return
        text, _warnings = heartbeat_md.read_heartbeat_md(self.path)
        if text in (self._saved_text, with_final_newline(self._saved_text)):
            self._watch()
            return
        gone = not self.path.exists()
        if not self.modified:
            self.load(None if gone else "HEARTBEAT.md was changed on disk; reloaded.")  # a missing file says so
            return
        what = f"{self.path} was deleted" if gone else "HEARTBEAT.md was changed on disk"
        then = (
            "Save writes your text back; Reload shows it missing."
            if gone
            else "Save keeps your text; Reload takes the file's."
        )
        self._show_banner(f"{what} while you were editing. {then}")
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
        file, text = self._file, self.text.toPlainText()
        if file is not None and not file.exists and not text:  # not "skipped": a missing file fails the heartbeat
            self.parsed.setPlainText(f"{file.path.name} does not exist: heartbeats of {file.title} fail until it does.")
            return
        self.parsed.setHtml(render_instructions(heartbeat_md.parse(text), file.config if file is not None else None))

    def _update_title(self) -> None:
        mark = "*" if self.modified else ""
        whose = f" of {self._file.title}" if self._file is not None and self._file.workspace else ""
        self.setWindowTitle(f"{mark}HEARTBEAT.md{whose} — Heartbeat Desktop")
        self.save_button.setEnabled(self.modified or not self.path.exists())

    # ------------------------------------------------------------------ dry-run preview
    def fill_threads(self, wanted: str | None = None) -> None:
        """The thread list, keeping the chosen one (or choosing `wanted`); a thread that went away leaves its
        file for the first thread's."""
        current = wanted or self.thread_box.currentData()
        self.thread_box.blockSignals(True)
        self.thread_box.clear()
        for thread_id, title in self._threads():
            self.thread_box.addItem(title, thread_id)
        self.thread_box.setCurrentIndex(max(self.thread_box.findData(current), 0))
        self.thread_box.blockSignals(False)
        if self._file is not None and self.thread_box.currentData() != self._file.thread_id:
            self._on_thread_chosen(self.thread_box.currentIndex())

    def open_thread(self, thread_id: str) -> None:
        """Show `thread_id`'s file (a failure notification's "Open HEARTBEAT.md")."""
        index = self.thread_box.findData(thread_id)
        if index < 0:
            self.fill_threads(thread_id)
        else:
            self.thread_box.setCurrentIndex(index)

    # ------------------------------------------------------------------ window
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fill_threads()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.modified and not self._settle_unsaved():
            event.ignore()
            return
        self.preview.cancel_preview()
        self.preview.cancel_all()
        self._tasks.cancel_all()
        self._memory.save(self, "editor")
        super().closeEvent(event)
