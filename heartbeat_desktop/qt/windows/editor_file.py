"""Which HEARTBEAT.md the editor shows: the one the chosen thread reads (#27 item 2).

A thread with a workspace (`threads add ID --workspace DIR`) reads DIR/HEARTBEAT.md; every other thread reads
the data folder's. The editor once always showed the data folder's, so a workspace thread's dry-run preview and
replay tried a file that thread never reads. Finding a thread's file asks the database, so it is read on a
background task (`read_thread_file`), never on the GUI thread.

A file that is not there is said and left alone: only the user's explicit "Create it from the template"
writes one (`create_from_template`); a heartbeat never does after the very first start (#27 item 5).
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from ... import paths
from ...core import heartbeat_md
from ...core.config import HeartbeatConfig
from ...files import EDITABLE_MAX_BYTES
from ...store import SqliteStore


@dataclass(frozen=True)
class ThreadFile:
    """The file a thread reads, as read now."""

    thread_id: str
    title: str
    path: Path
    workspace: bool  # the thread's own workspace, not the data folder
    exists: bool
    text: str
    warnings: tuple[str, ...]
    config: HeartbeatConfig | None  # for the tasks' next times in the thread's zone and hours
    problem: str | None = None  # cannot be opened (too big, not a file): shown, never edited
    readers: tuple[str, ...] = ()  # the titles of every thread whose workspace this is (several may share one)

    def describe(self) -> str:
        """What the label under the text says: where it lives and who reads it — every thread of a shared
        workspace, since saving it changes what each of them does."""
        if self.workspace:
            whose = f"the workspace read by {_and(self.readers or (self.title,))}"
        else:
            whose = "the data folder, read by threads without a workspace"
        state = "" if self.exists else " — does not exist"
        return f"{self.path} — {whose}{state}"


def _and(titles: tuple[str, ...]) -> str:
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"


def read_thread_file(db_path: Path, default: Path, thread_id: str, title: str) -> ThreadFile:
    """The thread's file and text (a background task's: a connection of its own, and file I/O)."""
    with SqliteStore.worker(db_path) as store:
        thread = store.get_thread(thread_id)
        workspace = thread.workspace if thread is not None else None
        sharing = [t.title for t in store.threads.list() if workspace is not None and t.workspace == workspace]
    config = thread.config if thread is not None else None
    return replace(read_file(default, thread_id, title, workspace, config), readers=tuple(sharing))


def read_file(
    default: Path, thread_id: str, title: str, workspace: Path | None, config: HeartbeatConfig | None
) -> ThreadFile:
    path = heartbeat_md.thread_file(default, workspace)
    base = ThreadFile(thread_id, title, path, workspace is not None, False, "", (), config)
    try:
        exists = path.exists()
        info = path.stat() if exists else None
    except OSError as exc:
        return replace(base, problem=f"cannot read {path}: {exc.strerror or exc}")
    size = info.st_size if info is not None else 0
    if info is not None and not stat.S_ISREG(info.st_mode):
        # A directory (or a FIFO) named HEARTBEAT.md: what the runner says of it, not a file inside it.
        return replace(base, exists=True, problem=f"cannot read {path}: not a regular file")
    if size > EDITABLE_MAX_BYTES:
        too_big = f"cannot open {path}: it is {size // 1024} KB; the editor opens files up to 1 MB"
        return replace(base, exists=True, problem=too_big)
    text, warnings = heartbeat_md.read_heartbeat_md(path)
    return replace(base, exists=exists, text=text, warnings=tuple(warnings if exists else ()))


def create_from_template(path: Path) -> None:
    """Write the shipped template to `path`, only if nothing is there (the user asked; never overwrites).
    Raises OSError (FileExistsError when a file appeared meanwhile)."""
    with paths.bundled("HEARTBEAT.md").open("rb") as src, path.open("xb") as dst:
        shutil.copyfileobj(src, dst)


def problem_text(file: ThreadFile) -> str:
    """A file the editor cannot open, said as the runner says it, with what it means for the heartbeats
    (a file past 1 MB is still read by them, its first MB)."""
    problem = file.problem or ""
    fails = f" Heartbeats of {file.title} fail until it can be read." if problem.startswith("cannot read") else ""
    return f"{problem[:1].upper()}{problem[1:]}.{fails}"


def missing_text(file: ThreadFile) -> str:
    """The banner over a thread's missing file: what that means for its heartbeats and what to do."""
    return (
        f"{file.path} does not exist. Heartbeats of {file.title} fail until it does (nothing is created "
        "behind your back). Create it from the template, or type your own and Save."
    )


def ask_save(parent: QWidget, what: str) -> QMessageBox.StandardButton:
    """Save, Discard or Cancel for unsaved text (closing the window, switching to another thread's file)."""
    return QMessageBox.question(
        parent,
        "Unsaved changes",
        f"{what} has unsaved changes. Save them?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )


def with_final_newline(text: str) -> str:
    """What a saved text file ends with (POSIX, and every editor a user may also open it in): a newline."""
    return text if not text or text.endswith("\n") else text + "\n"
