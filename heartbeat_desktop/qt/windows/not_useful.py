"""The "Not useful" button of the Feed and History (#26): the user's word on one of the agent's actions, with
an optional reason picked from its menu. What it records is `core/feedback.py`'s; the action itself stays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from ...core.feedback import REASON_LABELS, FeedbackReason, FeedbackSource
from ...core.heartbeat_md import dont_suggest_rule, read_heartbeat_md, rule_warning, with_rule, without_rule
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


@dataclass(frozen=True)
class AddedRule:
    """A rule "Don't suggest this again" wrote: where, what, and the feedback row that carries it as the user's
    reason (`made`: that row was made for it, rather than an earlier rejection given the rule)."""

    path: Path
    rule: str
    feedback_id: int | None
    made: bool


class DontSuggest(QObject):
    """ "Don't suggest this again" for one window (#26): offers the rule (`offer`), says what became of it, and
    offers its Undo (`undo_button`, shown while the rule just added can be taken back), so the window never
    keeps saying "Rule added" about a rule that is gone."""

    def __init__(
        self, parent: QWidget, store: SqliteStore, tasks: Tasks, source: FeedbackSource, said: Callable[[str], None]
    ) -> None:
        super().__init__(parent)
        self._parent, self._store, self._tasks, self._source, self._said = parent, store, tasks, source, said
        self.added: AddedRule | None = None
        self.undo_button = QPushButton("Undo ru&le", parent)
        self.undo_button.setAccessibleName("Undo the rule just added to HEARTBEAT.md")
        self.undo_button.setToolTip("Take the rule out of HEARTBEAT.md again")
        self.undo_button.setVisible(False)
        self.undo_button.clicked.connect(self.undo)

    def offer(self, run_id: str) -> None:
        offer_rule(self._parent, self._store, run_id, self._tasks, self._said, self._source, self._on_added)

    def _on_added(self, added: AddedRule) -> None:
        self.added = added
        self.undo_button.setVisible(True)

    def undo(self) -> None:
        """The rule's line out of the file (off the GUI thread, `.bak` kept), and the user's reason it carried
        out of the feedback: what "Don't suggest this again" did, taken back."""
        added = self.added
        if added is None:
            return
        self.added = None
        self.undo_button.setVisible(False)

        def work(_task: Task) -> bool:
            current, _warnings = read_heartbeat_md(added.path, strict=True)
            remaining = without_rule(current, added.rule)
            if remaining is None:
                return False
            atomic_write(added.path, remaining, backup=True)
            return True

        def done(removed: bool) -> None:
            if not removed:
                self._said(f"The rule is no longer in {added.path}: nothing to undo.")
                return
            if added.feedback_id is not None:
                try:
                    self._store.feedback.without_rule(added.feedback_id, added.made)
                except StoreError as exc:
                    log.warning("The rule's reason stays with the feedback: %s", exc)
            self._said(f"Rule undone: removed from {added.path}.")

        self._tasks.start(work, done, lambda why: self._said(f"The rule was not undone: {why}"))


def _edited_rule(parent: QWidget, label: str, proposal: str) -> str | None:
    """The rule line as the user edited it, or None (Cancel, or nothing left). A line that does not read as a
    rule yet (core.heartbeat_md.rule_warning: "If the thread has no messages -") is warned about, not refused:
    Yes adds it as it is, No goes back to editing it."""
    text = proposal
    while True:
        text, ok = ask_rule(parent, "Don't suggest this again", label, text)
        rule = " ".join(text.split())
        if not ok or not rule:
            return None
        warning = rule_warning(rule)
        if warning is None or confirm_rule(parent, f"“{rule}” does not read as a rule yet: {warning}. Add it anyway?"):
            return rule


def confirm_rule(parent: QWidget, question: str) -> bool:
    """Yes/No, No by default; plain text (the line may hold a model's words)."""
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Don't suggest this again",
        question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def offer_rule(
    parent: QWidget,
    store: SqliteStore,
    run_id: str,
    tasks: Tasks,
    said: Callable[[str], None],
    source: FeedbackSource = "history",
    added: Callable[[AddedRule], None] | None = None,
) -> None:
    """ "Don't suggest this again" (#26): a rule line for the thread's HEARTBEAT.md, shown and editable, added
    only on OK (never written silently). The rule is the user's reason for rejecting the action: one
    rejection of the run carries it (an earlier one, or a "not useful" made for it), never a second row. The
    file is read and written off the GUI thread, kept whole (`.bak`), and never created here: a missing file
    is said, not replaced."""
    run = store.runs.get(run_id)
    if run is None:
        return
    decision = run.decision or {}
    target = heartbeat_md_of(store, run.thread_id)
    post_id = (run.action_result or {}).get("post_id", decision.get("post_id"))
    proposal = dont_suggest_rule(
        str(decision.get("action", "post")),
        str(decision.get("title") or decision.get("content") or ""),
        post_id if isinstance(post_id, int) else None,
    )
    rule = _edited_rule(parent, f"Add this rule to {target}? Edit it as you like:", proposal)
    if rule is None:
        return
    feedback_id: int | None = None
    made = False
    try:
        event, made = store.feedback.with_rule(run_id, rule, source)
        feedback_id = event.id
    except StoreError as exc:
        log.info("The rule is not recorded as the reason: %s", exc)  # nothing to judge: the rule still helps

    def work(_task: Task) -> str:
        current, _warnings = read_heartbeat_md(target, strict=True)
        atomic_write(target, with_rule(current, rule), backup=True)
        return str(target)

    def done(path: str) -> None:
        said(f"Rule added to {path}.")
        if added is not None:
            added(AddedRule(target, rule, feedback_id, made))

    tasks.start(work, done, lambda why: said(f"The rule was not added: {why}"))
