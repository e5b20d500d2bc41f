"""What a button (or a click) on one of the app's notifications does.

Each action names its target by id *and* by the run that made it (core/notify.py): a post that was taken
back since, and whose id another post may not share (ids are never reused, but the check does not rely on
it), is refused with a word instead of opening or undoing something else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ..core.notify import EDIT, HISTORY, NOT_USEFUL, OPEN, RESUME, RETRY, SNOOZE, SNOOZE_S, UNDO, Notice
from ..core.ports import StoreError
from ..store import SqliteStore
from .tray_menu import fmt_time
from .window_manager import WindowManager

log = logging.getLogger(__name__)


class Schedule(Protocol):
    """What the actions ask of the scheduler (qt/services/scheduler.py)."""

    def run_heartbeat_now(self, thread_id: str) -> None: ...
    def resume_thread(self, thread_id: str) -> None: ...
    def snooze_thread(self, thread_id: str, seconds: float) -> None: ...


class Shows(Protocol):
    def show(self, notice: Notice) -> None: ...


class NotificationActions:
    def __init__(
        self,
        *,
        windows: WindowManager,
        schedule: Schedule,
        store: Callable[[], SqliteStore],
        notifier: Shows,
        changed: Callable[[], None],
    ) -> None:
        """`store`: the GUI thread's connection (one small transaction per action); `changed`: the data
        changed (an Undo), refresh what shows it."""
        self.windows, self.schedule, self.store, self.notifier, self.changed = (
            windows,
            schedule,
            store,
            notifier,
            changed,
        )

    def handle(self, key: str, notice: Notice) -> None:
        log.info("Notification action %s on %r", key, notice.title)
        if key == OPEN and notice.post_id is not None:
            if self._post_taken_back(notice):
                self.notifier.show(Notice("That post was already taken back", notice.title, thread_id=notice.thread_id))
                return
            self.windows.focus_post(notice.post_id)
        elif key in (HISTORY, OPEN):
            self.windows.focus_run(notice.thread_id, notice.run_id)
        elif key == EDIT:
            self.windows.focus_heartbeat_md(notice.thread_id)
        elif key == RETRY and notice.thread_id:
            self.schedule.run_heartbeat_now(notice.thread_id)
        elif key == RESUME and notice.thread_id:
            self.schedule.resume_thread(notice.thread_id)
        elif key == SNOOZE and notice.thread_id:
            self.schedule.snooze_thread(notice.thread_id, SNOOZE_S)
        elif key == UNDO and notice.undo is not None:
            self._undo(notice)
        elif key == NOT_USEFUL and notice.run_id is not None:
            self._not_useful(notice)

    def snoozed(self, thread_id: str, title: str, until: float) -> None:
        """A snooze taken (the worker decided until when): said once, as a pause is shown, with how to take
        it back — the tray's menu and tooltip say it too while it lasts."""
        when = fmt_time(until)
        body = f"No scheduled heartbeat of {title} before {when}. Resume {title} in the tray menu to take it back."
        self.notifier.show(Notice(f"{title} snoozed until {when}", body, thread_id=thread_id))

    def _undo(self, notice: Notice) -> None:
        assert notice.undo is not None
        kind, target_id = notice.undo
        try:
            # one row and its snapshot: a small transaction; the run too, so the button means that row only
            done = self.store().feed.undo(kind, target_id, run_id=notice.run_id, source="notification")
        except StoreError as exc:
            self.notifier.show(Notice(f"Could not undo the {kind}", str(exc), critical=True))
            return
        self._said(done.get("note"), notice)
        self.changed()

    def _said(self, note: object, notice: Notice) -> None:
        """What the app changed because of the user's word (a daily cap stepped down, #26), said once."""
        if note:
            self.notifier.show(Notice("Heartbeat Desktop: fewer actions a day", str(note), thread_id=notice.thread_id))

    def _not_useful(self, notice: Notice) -> None:
        assert notice.run_id is not None
        try:
            event = self.store().feedback.record(notice.run_id, "not_useful", "notification")
        except StoreError as exc:
            self.notifier.show(Notice("Could not record that", str(exc), critical=True))
            return
        self._said(event.note, notice)
        self.changed()

    def _post_taken_back(self, notice: Notice) -> bool:
        """The post a post notification announced is gone (undone since). A comment or vote notice names the
        post it was about, which is not that run's: only a post notice is checked against its run."""
        if notice.post_id is None or notice.undo is None or notice.undo[0] != "post":
            return False
        try:
            return not self.store().feed.post_of_run(notice.post_id, notice.run_id)
        except StoreError as exc:
            log.warning("Could not look up post %s: %s", notice.post_id, exc)
            return False
