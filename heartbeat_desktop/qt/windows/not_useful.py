"""The "Not useful" button of the Feed and History (#26): the user's word on one of the agent's actions, with
an optional reason picked from its menu. What it records is `core/feedback.py`'s; the action itself stays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QDialog, QInputDialog, QLabel, QMenu, QPlainTextEdit, QToolButton, QWidget

from ...core.feedback import REASON_LABELS, FeedbackReason
from ...core.heartbeat_md import dont_suggest_rule, read_heartbeat_md, with_rule
from ...core.ports import StoreError
from ...files import atomic_write
from ...store import SqliteStore
from ..services.tasks import Task, Tasks

log = logging.getLogger(__name__)


class NotUsefulButton(QToolButton):
    """Click: not useful, no reason; its menu: one of the reasons. `chosen(reason)` is called with either."""

    def __init__(
        self,
        chosen: Callable[[FeedbackReason | None], None],
        dont_suggest: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setText("&Not useful")
        self.setAccessibleName("Mark the agent's action as not useful")
        self.setToolTip("Tell the app this action was not useful; the menu says why. The action itself stays.")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self)
        menu.setAccessibleName("Why it was not useful")
        for key, label in REASON_LABELS.items():
            action = menu.addAction(label.capitalize())
            action.triggered.connect(lambda _checked=False, key=key: chosen(key))
        if dont_suggest is not None:
            menu.addSeparator()
            menu.addAction("Don't suggest this again…").triggered.connect(lambda _checked=False: dont_suggest())
        self.setMenu(menu)
        self.clicked.connect(lambda: chosen(None))


def heartbeat_md_of(store: SqliteStore, thread_id: str | None) -> Path:
    """The HEARTBEAT.md a thread reads: its workspace's, else the data folder's (beside the database)."""
    thread = store.threads.get(thread_id) if thread_id else None
    folder = thread.workspace if thread is not None and thread.workspace else Path(str(store.db.path)).parent
    return folder / "HEARTBEAT.md"


def rule_dialog(parent: QWidget, title: str, label: str, text: str) -> QInputDialog:
    """QInputDialog.getMultiLineText's dialog, but wrapping: a rule is one long line, and its box does not
    wrap (the user had to scroll sideways to read what would be added). The label, which names a file path
    that can be long, wraps too."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)
    dialog.setTextValue(text)
    edit = dialog.findChild(QPlainTextEdit)
    assert edit is not None  # made by the option above
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    for shown in dialog.findChildren(QLabel):
        shown.setWordWrap(True)
    dialog.resize(560, 260)
    return dialog


def ask_rule(parent: QWidget, title: str, label: str, text: str) -> tuple[str, bool]:
    """The rule as the user edited it, and whether they pressed OK (as QInputDialog.getMultiLineText)."""
    dialog = rule_dialog(parent, title, label, text)
    try:
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.textValue(), accepted
    finally:
        dialog.deleteLater()


def offer_rule(parent: QWidget, store: SqliteStore, run_id: str, tasks: Tasks, said: Callable[[str], None]) -> None:
    """ "Don't suggest this again" (#26): a rule line for the thread's HEARTBEAT.md, shown and editable, added
    only on OK (never written silently); the action is marked not useful too. The file is read and written off
    the GUI thread, kept whole (`.bak`), and never created here: a missing file is said, not replaced."""
    run = store.runs.get(run_id)
    if run is None:
        return
    decision = run.decision or {}
    target = heartbeat_md_of(store, run.thread_id)
    proposal = dont_suggest_rule(
        str(decision.get("action", "post")), str(decision.get("title") or decision.get("content") or "")
    )
    label = f"Add this rule to {target}? Edit it as you like:"
    text, ok = ask_rule(parent, "Don't suggest this again", label, proposal)
    rule = " ".join(text.split())
    if not ok or not rule:
        return
    try:
        store.feedback.record(run_id, "not_useful", "history")
    except StoreError as exc:
        log.info("Not recorded as not useful: %s", exc)  # already judged, or nothing to judge: the rule still helps

    def work(_task: Task) -> str:
        current, _warnings = read_heartbeat_md(target, strict=True)
        atomic_write(target, with_rule(current, rule), backup=True)
        return str(target)

    tasks.start(work, lambda path: said(f"Rule added to {path}."), lambda why: said(f"The rule was not added: {why}"))
