"""The feed: what the agents posted, with scores and comments. The user can vote, comment (an answer to a post
raised from an open contradiction note offers to resolve that note: store/answers.py), and undo an action an
agent took (the undo is recorded, with a snapshot of what was removed)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core.feedback import REASON_LABELS, FeedbackReason
from ...core.models import FeedComment, FeedPost
from ...core.ports import StoreError
from ...store import SqliteStore
from ..icons import app_icon
from ..services.tasks import Task, Tasks
from .models.feed_model import PAGE, FeedModel
from .not_useful import DontSuggest, NotUsefulButton
from .notes_pane import offer_resolve
from .window_state import WindowMemory

USER_VOTER = "user"  # the person's own votes, one per post like a thread's
# What a refresh read off the GUI thread: the first posts, whether there are more, and the selected post's
# comments and votes (None when nothing was selected).
Snapshot = tuple[list[FeedPost], bool, tuple[int, list[FeedComment], list[dict[str, Any]]] | None]


class FeedWindow(QWidget):
    def __init__(
        self,
        store: SqliteStore,
        memory: WindowMemory,
        on_change: Callable[[], None],
        db_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Feed — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._store = store
        self._db_path = db_path or cast(Path, store.db.path)
        self._memory = memory
        self._on_change = on_change
        self._refresh_task: Task | None = None
        self._applying = False  # a refresh re-selecting its post: shown from what the refresh read
        self.model = FeedModel(store.feed, self)
        self.table = self._posts_table()
        self.body = QTextBrowser()
        self.body.setAccessibleName("Post")
        self.body.setOpenLinks(False)
        self.comments = QListWidget()
        self.comments.setAccessibleName("Comments and votes")
        self.up = QPushButton("Vote &up")
        self.down = QPushButton("Vote &down")
        self.undo_post = QPushButton("Undo this &post")
        self.undo_item = QPushButton("Undo selected &comment or vote")
        self.not_useful = NotUsefulButton(self._not_useful, self._dont_suggest)
        self._tasks = Tasks(self)
        self.feedback_note = QLabel("")
        self.feedback_note.setAccessibleName("What was noted")
        self.dont_suggest = DontSuggest(self, store, self._tasks, "feed", self.feedback_note.setText)
        for button, name in (
            (self.up, "Vote up"),
            (self.down, "Vote down"),
            (self.undo_post, "Undo the agent's post"),
            (self.undo_item, "Undo the agent's comment or vote"),
        ):
            button.setAccessibleName(name)
        buttons = QHBoxLayout()
        for widget in (self.up, self.down, self.undo_post, self.undo_item, self.not_useful):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.body, 2)
        label = QLabel("Comments and &votes:")
        label.setBuddy(self.comments)
        detail_layout.addWidget(label)
        detail_layout.addWidget(self.comments, 1)
        detail_layout.addLayout(buttons)
        detail_layout.addLayout(self._comment_row())
        note_row = QHBoxLayout()
        note_row.addWidget(self.feedback_note, 1)
        note_row.addWidget(self.dont_suggest.undo_button)
        detail_layout.addLayout(note_row)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(detail)
        splitter.setSizes([300, 340])
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        layout.addWidget(splitter, 1)

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.refresh_button.clicked.connect(self.refresh)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        self.up.clicked.connect(lambda: self._vote("up"))
        self.down.clicked.connect(lambda: self._vote("down"))
        self.undo_post.clicked.connect(self._undo_post)
        self.undo_item.clicked.connect(self._undo_item)
        self.comment_button.clicked.connect(self.add_comment)
        self.comments.currentItemChanged.connect(lambda *_: self._update_buttons())
        if not memory.restore(self, "feed"):
            self.resize(820, 660)
        self._update_buttons()

    def _posts_table(self) -> QTableView:
        table = QTableView()
        table.setAccessibleName("Posts")
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 50), (2, 60), (3, 80), (4, 90), (5, 130)):
            table.setColumnWidth(column, width)
        return table

    def _top_row(self) -> QHBoxLayout:
        """Above the posts: "No posts yet" and Refresh (the post's own row of buttons is full at 640 px)."""
        self.empty = QLabel("No posts yet. When a heartbeat posts, it shows up here.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Refresh the feed")
        self.refresh_button.setToolTip("Read the feed again (F5); it also does after each heartbeat")
        top = QHBoxLayout()
        top.addWidget(self.empty, 1)
        top.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        return top

    def _comment_row(self) -> QHBoxLayout:
        """Where the user answers a post (an answer to the agent's question may resolve its note)."""
        self.comment_box = QPlainTextEdit()
        self.comment_box.setAccessibleName("Your comment on the post")
        self.comment_box.setPlaceholderText("Your comment or answer to this post…")
        self.comment_box.setTabChangesFocus(True)
        self.comment_box.setMaximumHeight(60)
        self.comment_button = QPushButton("Add co&mment")
        self.comment_button.setAccessibleName("Add your comment to the post")
        row = QHBoxLayout()
        row.addWidget(self.comment_box, 1)
        row.addWidget(self.comment_button)
        return row

    def refresh(self) -> None:
        """The feed changed outside this window (window_manager.Refreshable, a heartbeat's end, F5): read it
        again off the GUI thread — as many posts as are loaded, and the selected post's comments and votes —
        and show it keeping the selection and the scroll position."""
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        db_path, count = self._db_path, max(self.model.rowCount(), PAGE)
        post = self._selected()
        selected = post.id if post else None

        def work(_task: Task) -> Snapshot:
            with SqliteStore.worker(db_path) as store:
                posts = store.feed.posts(limit=count + 1)
                detail = None
                if selected is not None:
                    detail = (selected, store.feed.comments(selected), store.feed.votes(selected))
                return posts[:count], len(posts) <= count, detail

        self._refresh_task = self._tasks.start(work, self._apply_refresh)

    @Slot(object)
    def on_run_finished(self, _run: object) -> None:
        """A heartbeat ended: it may have posted, commented or voted."""
        if self.isVisible():
            self.refresh()

    def _apply_refresh(self, result: object) -> None:
        posts, exhausted, detail = cast(Snapshot, result)
        self._refresh_task = None
        post = self._selected()
        scroll = self.table.verticalScrollBar().value()
        self._applying = True
        try:
            self.model.replace(posts, exhausted)
            row = next((i for i, p in enumerate(posts) if post is not None and p.id == post.id), None)
            if row is not None:
                self.table.selectRow(row)
        finally:
            self._applying = False
        self.table.verticalScrollBar().setValue(scroll)
        self.empty.setVisible(self.model.rowCount() == 0)
        if row is not None and detail is not None and detail[0] == posts[row].id:
            self._show_post(posts[row], detail[1], detail[2])
        else:  # the selected post went away (an undo elsewhere): show the first, as on opening
            if self.model.rowCount() and not self.table.selectionModel().hasSelection():
                self.table.selectRow(0)
            self._show_selected()

    def _on_select(self) -> None:
        if not self._applying:
            self._show_selected()

    def reload(self) -> None:
        self.model.reload()
        self.empty.setVisible(self.model.rowCount() == 0)
        if self.model.rowCount() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self._show_selected()

    def show_post(self, post_id: int) -> None:
        self.reload()
        for row in range(self.model.rowCount()):
            if self.model.post_at(row).id == post_id:
                self.table.selectRow(row)
                return

    def _selected(self) -> FeedPost | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.post_at(rows[0].row()) if rows else None

    def _show_selected(self) -> None:
        post = self._selected()
        if post is None:
            self.comments.clear()
            self.body.clear()
            self._update_buttons()
            return
        self._show_post(post, self._store.feed.comments(post.id), self._store.feed.votes(post.id))

    def _show_post(self, post: FeedPost, comments: list[FeedComment], votes: list[dict[str, Any]]) -> None:
        current = self.comments.currentRow()
        self.comments.clear()
        who = f"thread {post.thread_id}" if post.thread_id else "a removed thread"
        by = "the agent" if post.run_id else "you"
        # Model text is stored as written: escaped here, where it becomes markup.
        self.body.setHtml(
            f"<h3>{html.escape(post.title)}</h3><p style='white-space: pre-wrap'>{html.escape(post.content)}</p>"
            f"<p><i>#{post.id} · score {post.score:+d} · by {by} for {who}</i></p>"
        )
        for comment in comments:
            who = "you" if comment.run_id is None and comment.thread_id is None else comment.thread_id or "—"
            item = QListWidgetItem(f"Comment from {who}: {_plain(comment.content)}")
            item.setData(Qt.ItemDataRole.UserRole, ("comment", comment.id, comment.run_id))
            self.comments.addItem(item)
        for vote in votes:
            arrow = "▲" if vote["direction"] == "up" else "▼"
            item = QListWidgetItem(f"{arrow} {vote['thread_id']} voted {vote['direction']}")
            item.setData(Qt.ItemDataRole.UserRole, ("vote", vote["id"], vote["run_id"]))
            self.comments.addItem(item)
        if 0 <= current < self.comments.count():
            self.comments.setCurrentRow(current)
        self._update_buttons()

    def _update_buttons(self) -> None:
        post = self._selected()
        self.up.setEnabled(post is not None)
        self.down.setEnabled(post is not None)
        self.comment_button.setEnabled(post is not None)
        self.undo_post.setEnabled(post is not None and post.run_id is not None)
        self.not_useful.setEnabled(post is not None and post.run_id is not None)
        item = self.comments.currentItem()
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.undo_item.setEnabled(bool(data and data[2]))

    def _vote(self, direction: str) -> None:
        post = self._selected()
        if post is None:
            return
        try:
            self._store.feed.vote(post.id, USER_VOTER, direction)
        except StoreError as exc:
            QMessageBox.warning(self, "Vote", str(exc))
        self._after_change(post.id)

    def add_comment(self) -> None:
        """The user's comment; on a post the agent raised from an open contradiction note, an offer to resolve it."""
        post = self._selected()
        text = self.comment_box.toPlainText().strip()
        if post is None or not text:
            return
        try:
            answer = self._store.answers.comment(post.id, text)
        except StoreError as exc:
            QMessageBox.warning(self, "Comment", str(exc))
            return
        self.comment_box.clear()
        self._after_change(post.id)
        resolved = offer_resolve(self, self._store, answer.open_notes)
        if resolved:
            self.feedback_note.setText("Resolved " + ", ".join(f"note #{n.id}" for n in resolved) + ".")
            self._on_change()

    def _not_useful(self, reason: FeedbackReason | None) -> None:
        post = self._selected()
        if post is None or post.run_id is None:
            return
        try:
            event = self._store.feedback.record(post.run_id, "not_useful", "feed", reason)
        except StoreError as exc:
            QMessageBox.warning(self, "Not useful", str(exc))
            return
        why = f" ({REASON_LABELS[reason]})" if reason else ""
        self.feedback_note.setText(f"Noted: #{post.id} was not useful{why}. {event.note or ''}".strip())
        self._on_change()

    def _dont_suggest(self) -> None:
        post = self._selected()
        if post is not None and post.run_id is not None:
            self.dont_suggest.offer(post.run_id)

    def _undo_post(self) -> None:
        post = self._selected()
        if post is None:
            return
        question = f"Remove the agent's post “{_plain(post.title)}” with its comments and votes?\n"
        if not ask_plain(self, "Undo post", question + "A copy is kept in the undo log."):
            return
        self._undo("post", post.id, post.id)

    def _undo_item(self) -> None:
        post = self._selected()
        item = self.comments.currentItem()
        if post is None or item is None:
            return
        kind, target_id, _run = item.data(Qt.ItemDataRole.UserRole)
        self._undo(kind, target_id, post.id)

    def _undo(self, kind: str, target_id: int, post_id: int) -> None:
        try:
            done = self._store.feed.undo(kind, target_id)
        except StoreError as exc:
            QMessageBox.warning(self, "Undo", str(exc))
        else:  # what the note said before (a rule added, say) is not the last word any more
            self.feedback_note.setText(f"Undone: the agent's {kind} #{target_id}. {done.get('note') or ''}".strip())
        self._after_change(post_id)

    def _after_change(self, post_id: int) -> None:
        self.model.refresh_post(post_id)
        self._show_selected()
        self.empty.setVisible(self.model.rowCount() == 0)
        self._on_change()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._tasks.cancel_all()  # a rule still being written reports to nobody
        self._memory.save(self, "feed")
        super().closeEvent(event)


def ask_plain(parent: QWidget, title: str, text: str) -> bool:
    """A Yes/No question whose text is never read as markup (QMessageBox guesses rich text otherwise, and
    a model's `<font size=7>` would render)."""
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def _plain(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 120 else flat[:119] + "…"
