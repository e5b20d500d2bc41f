"""SQLite storage: one file, one connection per thread of execution, repositories per table group.

`SqliteStore` is what the runner talks to (it implements `core.ports.HeartbeatStore`); the CLI and the
windows use the repositories directly.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core import refusals
from ..core.actions import post_key
from ..core.citations import refs_in_inputs
from ..core.config import HeartbeatConfig
from ..core.feedback import RejectedAction
from ..core.models import FeedPost, Message, Note, RunRecord, Thread
from ..core.ports import DailyCap, DailyCapReached, PostNotFound, StoreError
from ..core.precheck import fingerprint
from .answers import AnswerRepo
from .db import Database
from .feed import FeedRepo
from .feedback import FeedbackRepo
from .providers import ProviderRepo
from .runs import RunRepo
from .settings import SettingsRepo
from .tasks import TaskSlotRepo
from .threads import DEFAULT_THREAD, ThreadRepo

log = logging.getLogger(__name__)


__all__ = ["DEFAULT_THREAD", "Database", "SqliteStore", "StoreError"]


class SqliteStore:
    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        recover: bool = True,
        retry_budget_s: float | None = None,
        read_only: bool = False,
    ) -> None:
        if read_only:
            self.db = Database(path, read_only=True)
        elif retry_budget_s is None:
            self.db = Database(path)
        else:
            self.db = Database(path, retry_budget_s=retry_budget_s)
        self.clock = clock
        self.threads = ThreadRepo(self.db, clock)
        self.feed = FeedRepo(self.db, clock)
        self.answers = AnswerRepo(self.db, clock)
        self.feedback = FeedbackRepo(self.db, clock)
        self.tasks = TaskSlotRepo(self.db, clock)
        self.runs = RunRepo(self.db, clock)
        self.settings = SettingsRepo(self.db)
        self.providers = ProviderRepo(self.db, clock)
        if read_only:
            return
        self.threads.ensure_default()
        if recover:
            count = self.runs.mark_interrupted()
            if count:
                log.warning(
                    "Marked %d run(s) left unfinished when the app last stopped (quit or crash mid-run) as interrupted",
                    count,
                )

    def close(self) -> None:
        self.db.close()

    @classmethod
    @contextmanager
    def worker(cls, path: Path | str, **options: Any) -> Iterator[SqliteStore]:
        """A connection of its own for work off the GUI thread (a task, an API request, a health probe),
        closed when the work ends. It never recovers interrupted runs: only the app's start does that, and
        a worker's open must not mark a run that is in flight elsewhere as interrupted."""
        store = cls(path, recover=False, **options)
        try:
            yield store
        finally:
            store.close()

    def provider_users(self, name: str) -> tuple[list[str], bool]:
        """(the threads whose own model is one of provider `name`'s, whether the default model is one): who
        would fail once it is removed (`provider remove`, Settings → Providers)."""
        from ..core.providers import split_model

        names = [p.name for p in self.providers.list()]
        threads = [
            t.id for t in self.threads.list() if t.config.model and split_model(t.config.model, names)[0] == name
        ]
        return threads, split_model(self.settings.app().default_model, names)[0] == name

    # ------------------------------------------------------------------ HeartbeatStore protocol
    def get_thread(self, thread_id: str) -> Thread | None:
        return self.threads.get(thread_id)

    def thread_fingerprint(self, thread_id: str) -> str:
        def work(c: sqlite3.Connection) -> str:
            msg = c.execute("SELECT MAX(id) FROM messages WHERE thread_id = ?", (thread_id,)).fetchone()[0]
            notes = c.execute(
                "SELECT COUNT(*), MAX(updated_at) FROM notes WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            posts = c.execute("SELECT MAX(id) FROM posts").fetchone()[0]
            comments = c.execute("SELECT MAX(id) FROM comments").fetchone()[0]
            votes = c.execute("SELECT MAX(created_at), MAX(id) FROM votes").fetchone()
            undone = c.execute("SELECT MAX(id) FROM undo_log").fetchone()[0]
            return f"m{msg}/n{notes[0]},{notes[1]}/p{posts}/c{comments}/v{votes[0]},{votes[1]}/u{undone}"

        return self.db.read(work)

    def last_success_fingerprint(self, thread_id: str) -> str | None:
        state = self.runs.state(thread_id)
        return state.last_success_fingerprint if state else None

    def recent_messages(self, thread_id: str, limit: int) -> list[Message]:
        return self.threads.messages(thread_id, limit)

    def open_notes(self, thread_id: str, limit: int) -> list[Note]:
        return self.threads.notes(thread_id, limit)

    def recent_posts(self, limit: int, comments_each: int = 0) -> list[FeedPost]:
        posts = self.feed.posts(limit)
        if comments_each <= 0 or not posts:
            return posts
        latest = self.feed.latest_comments([p.id for p in posts], comments_each)
        return [replace(p, latest_comments=tuple(latest.get(p.id, ()))) for p in posts]

    def rejected_actions(self, thread_id: str, limit: int) -> list[RejectedAction]:
        return self.feedback.rejected(thread_id, limit)

    def post_exists(self, post_id: int) -> bool:
        return self.feed.post_exists(post_id)

    def refs_seen_last(self, thread_id: str) -> set[str] | None:
        row = self.db.read(
            lambda c: c.execute(
                "SELECT inputs FROM runs WHERE thread_id = ? AND dry_run = 0 AND status = 'ok' "
                "AND trigger NOT IN ('preview', 'task') ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
        )
        return refs_in_inputs(row["inputs"] if row else None)

    def same_post_since(self, title: str, content: str, since: float) -> tuple[int, str | None] | None:
        wanted = post_key(title, content)
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT id, thread_id, title, content FROM posts WHERE created_at >= ? ORDER BY id DESC", (since,)
            ).fetchall()
        )
        same = (r for r in rows if post_key(r["title"], r["content"]) == wanted)
        return next(((r["id"], r["thread_id"]) for r in same), None)

    def recent_answers(self, thread_id: str, limit: int) -> list[tuple[str, str | None]]:
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT status, raw_reply FROM runs WHERE thread_id = ? AND dry_run = 0 AND status IN ('ok', 'failed') "
                "AND trigger != 'preview' ORDER BY started_at DESC LIMIT ?",
                (thread_id, limit),
            ).fetchall()
        )
        return [(r["status"], r["raw_reply"]) for r in rows]

    def last_run_outcome(self, thread_id: str) -> tuple[str, str] | None:
        row = self.db.read(
            lambda c: c.execute(
                "SELECT status, reason FROM runs WHERE thread_id = ? AND trigger != 'preview' "
                "ORDER BY started_at DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
        )
        return (row["status"], row["reason"] or "") if row else None

    def pause_thread(self, thread_id: str) -> None:
        self.threads.set_paused(thread_id, True)

    def actions_since(self, thread_id: str, since: float) -> dict[str, int]:
        return self.db.read(lambda c: _actions_since(c, thread_id, since))

    def insert_run(self, run: RunRecord) -> None:
        self.db.transaction(lambda c: self.runs.insert(c, run))

    def finish_run(
        self,
        run: RunRecord,
        action: dict[str, Any] | None = None,
        target: str = "none",
        md_hash: str = "",
        cap: DailyCap | None = None,
    ) -> dict[str, Any] | None:
        """Write the action (and its delivery as a message for target=last) and the run, atomically.

        The action row carries the run id under UNIQUE, and the run must still be `started`: a replay
        of the same run after a crash can never act twice. The daily cap is counted inside the same
        `BEGIN IMMEDIATE` transaction: writers are serialised, so concurrent runs cannot both pass it.
        """
        now = self.clock()

        def work(c: sqlite3.Connection) -> dict[str, Any] | None:
            result = None
            if action is not None:
                current = c.execute("SELECT status FROM runs WHERE id = ?", (run.id,)).fetchone()
                if current is None or current["status"] != "started":
                    raise StoreError(f"run {run.id} is not in flight (status {current and current['status']})")
                if cap is not None:
                    kind = action["action"]
                    done = _actions_since(c, run.thread_id, cap.since)[kind]
                    if done >= cap.limit:
                        raise DailyCapReached(refusals.daily_cap(kind, done, cap.limit))
                try:
                    result = self.feed.write_action(c, action, run.thread_id, run.id, now)
                except sqlite3.IntegrityError as exc:
                    raise StoreError(f"action rejected by the database: {exc}") from exc
                if target == "last":
                    result["delivered_to"] = self._deliver(c, run, result, action, now)
                run.action_result = result
            if run.status == "ok" and not run.dry_run:
                run.fingerprint = fingerprint(md_hash, self.thread_fingerprint(run.thread_id))
            self.runs.update(c, run)
            return result

        try:
            return self.db.transaction(work)
        except (PostNotFound, DailyCapReached):
            raise
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"could not record run: {exc}") from exc

    def _deliver(
        self, c: sqlite3.Connection, run: RunRecord, result: dict[str, Any], action: dict[str, Any], now: float
    ) -> str:
        """target=last: also post the action as an assistant message in the most recently active thread."""
        row = c.execute(
            "SELECT id FROM threads ORDER BY last_active_at IS NULL, last_active_at DESC, id = ? DESC LIMIT 1",
            (run.thread_id,),
        ).fetchone()
        thread_id = row["id"] if row else run.thread_id
        if action["action"] == "post":
            text = f"{action['title']}\n\n{action['content']}"
        elif action["action"] == "comment":
            text = f"Commented on “{result['post_title']}”:\n\n{action['content']}"
        else:
            text = f"Voted {action['direction']} on “{result['post_title']}”."
        c.execute(
            "INSERT INTO messages (thread_id, role, text, created_at, run_id) VALUES (?, 'assistant', ?, ?, ?)",
            (thread_id, text, now, run.id),
        )
        return thread_id

    def apply_settings(self, configs: dict[str, HeartbeatConfig], app: dict[str, str | None]) -> None:
        """The settings dialog's OK: every thread's config and the app settings in ONE transaction."""

        def work(c: sqlite3.Connection) -> None:
            for thread_id, config in configs.items():
                c.execute("UPDATE threads SET config = ? WHERE id = ?", (config.to_json(), thread_id))
            for key, value in app.items():
                if value is None or value == "":
                    c.execute("DELETE FROM settings WHERE key = ?", (key,))
                else:
                    c.execute(
                        "INSERT INTO settings (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )

        self.db.transaction(work)

    # ------------------------------------------------------------------ maintenance
    def integrity_check(self) -> str:
        return self.db.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])


def _actions_since(c: sqlite3.Connection, thread_id: str, since: float) -> dict[str, int]:
    """Posts, comments and votes the thread's heartbeats made since `since`, from the run log: a vote that
    replaced an earlier one leaves one row in `votes` but was an action all the same."""
    counts = {"post": 0, "comment": 0, "vote": 0}
    rows = c.execute(
        "SELECT json_extract(decision, '$.action') AS action, COUNT(*) AS n FROM runs "
        "WHERE thread_id = ? AND started_at >= ? AND status = 'ok' AND dry_run = 0 GROUP BY action",
        (thread_id, since),
    ).fetchall()
    for row in rows:
        if row["action"] in counts:
            counts[row["action"]] = row["n"]
    return counts
