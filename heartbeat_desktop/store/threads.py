"""Threads, their messages and notes."""

from __future__ import annotations

import builtins
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..core.actions import invisible
from ..core.config import HeartbeatConfig
from ..core.models import ADDED_ROLES, NOTE_KINDS, TEXT_MAX, Message, Note, Thread
from ..core.ports import NoteNotFound, StoreError
from .db import Database

DEFAULT_THREAD = "default"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ThreadExists(StoreError):
    """A thread with that id is already there (ids are the user's names for threads: never reused silently)."""


class NoSuchThread(StoreError):
    """The named thread does not exist: a usage error for the CLI (exit 2) and a 404 for the API."""


def validate_slug(thread_id: str) -> str:
    if not _SLUG.match(thread_id):
        raise StoreError(
            f"invalid thread id {thread_id!r}: use 1–64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return thread_id


def _thread(row: sqlite3.Row) -> Thread:
    config, warnings = HeartbeatConfig.load(row["config"])  # the one place a thread's stored config is parsed
    return Thread(
        id=row["id"],
        title=row["title"],
        workspace=Path(row["workspace"]) if row["workspace"] else None,
        config_json=row["config"],
        created_at=row["created_at"],
        last_active_at=row["last_active_at"],
        paused=bool(row["paused"]),
        config=config,
        config_warnings=tuple(warnings),
    )


class ThreadRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # ------------------------------------------------------------------ threads
    def ensure_default(self) -> None:
        now = self.clock()
        self.db.transaction(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO threads (id, title, config, created_at) VALUES (?, ?, ?, ?)",
                (DEFAULT_THREAD, "Default", HeartbeatConfig().to_json(), now),
            )
        )

    def create(self, thread_id: str, title: str | None = None, workspace: Path | None = None) -> Thread:
        validate_slug(thread_id)
        now = self.clock()

        def work(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO threads (id, title, workspace, config, created_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        thread_id,
                        _title(title) if title else thread_id,
                        str(workspace) if workspace else None,
                        HeartbeatConfig().to_json(),
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise ThreadExists(f"thread {thread_id!r} already exists") from None

        self.db.transaction(work)
        thread = self.get(thread_id)
        assert thread is not None
        return thread

    def get(self, thread_id: str) -> Thread | None:
        row = self.db.read(lambda c: c.execute("SELECT * FROM threads WHERE id = ?", (thread_id,)).fetchone())
        return _thread(row) if row else None

    def require(self, thread_id: str) -> Thread:
        thread = self.get(thread_id)
        if thread is None:
            raise NoSuchThread(f"no thread {thread_id!r} (see: heartbeat-desktop threads list)")
        return thread

    def list(self) -> list[Thread]:
        rows = self.db.read(lambda c: c.execute("SELECT * FROM threads ORDER BY id").fetchall())
        return [_thread(r) for r in rows]

    def remove(self, thread_id: str) -> None:
        if thread_id == DEFAULT_THREAD:
            raise StoreError("the default thread cannot be removed")
        self.require(thread_id)
        self.db.transaction(lambda c: c.execute("DELETE FROM threads WHERE id = ?", (thread_id,)))

    def rename(self, thread_id: str, title: str) -> None:
        title = _title(title)
        self.require(thread_id)
        self.db.transaction(lambda c: c.execute("UPDATE threads SET title = ? WHERE id = ?", (title, thread_id)))

    def set_config(self, thread_id: str, config: HeartbeatConfig) -> None:
        self.require(thread_id)
        self.db.transaction(
            lambda c: c.execute("UPDATE threads SET config = ? WHERE id = ?", (config.to_json(), thread_id))
        )

    def set_config_raw(self, thread_id: str, text: str) -> None:
        """Store config text as is (import, tests of the malformed-config path)."""
        self.db.transaction(lambda c: c.execute("UPDATE threads SET config = ? WHERE id = ?", (text, thread_id)))

    def set_paused(self, thread_id: str, paused: bool) -> None:
        """Pause or resume. Resuming starts afresh: the failures that led to the pause (or piled up while
        the user fixed things) no longer back the next heartbeat off by hours."""
        self.require(thread_id)

        def work(c: sqlite3.Connection) -> None:
            c.execute("UPDATE threads SET paused = ? WHERE id = ?", (int(paused), thread_id))
            if not paused:
                c.execute("UPDATE thread_state SET consecutive_failures = 0 WHERE thread_id = ?", (thread_id,))

        self.db.transaction(work)

    # ------------------------------------------------------------------ messages
    def add_message(self, thread_id: str, text: str, role: str = "user") -> int:
        if role not in ADDED_ROLES:
            raise StoreError(f"role must be one of {', '.join(ADDED_ROLES)}")
        if not _visible(text):
            raise StoreError("message text is empty (or only invisible characters)")
        _bounded("message", text)
        self.require(thread_id)
        now = self.clock()

        def work(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO messages (thread_id, role, text, created_at) VALUES (?, ?, ?, ?)",
                (thread_id, role, text, now),
            )
            if role == "user":
                c.execute("UPDATE threads SET last_active_at = ? WHERE id = ?", (now, thread_id))
            return int(cur.lastrowid or 0)

        return self.db.transaction(work)

    def messages(self, thread_id: str, limit: int = 50) -> builtins.list[Message]:
        """Newest first."""
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT * FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT ?", (thread_id, limit)
            ).fetchall()
        )
        return [Message(r["id"], r["thread_id"], r["role"], r["text"], r["created_at"]) for r in rows]

    # ------------------------------------------------------------------ notes
    def add_note(self, thread_id: str, text: str, kind: str = "memory") -> int:
        if kind not in NOTE_KINDS:
            raise StoreError(f"note kind must be one of {', '.join(NOTE_KINDS)}")
        if not _visible(text):
            raise StoreError("note text is empty (or only invisible characters)")
        _bounded("note", text)
        self.require(thread_id)
        now = self.clock()
        return self.db.transaction(
            lambda c: int(
                c.execute(
                    "INSERT INTO notes (thread_id, kind, text, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (thread_id, kind, text, now, now),
                ).lastrowid
                or 0
            )
        )

    def set_note_resolved(self, thread_id: str, note_id: int, resolved: bool = True) -> Note:
        """Close (or reopen) one of the thread's notes: a resolved contradiction is no longer shown to the
        agent as open (#27 item 3; nothing could close one before). Raises StoreError for another thread's
        note or one that does not exist."""
        self.require(thread_id)
        now = self.clock()

        def work(c: sqlite3.Connection) -> None:
            cur = c.execute(
                "UPDATE notes SET resolved = ?, updated_at = ? WHERE id = ? AND thread_id = ?",
                (int(resolved), now, note_id, thread_id),
            )
            if cur.rowcount == 0:
                raise NoteNotFound(f"thread {thread_id!r} has no note #{note_id}")

        self.db.transaction(work)
        return next(n for n in self.notes(thread_id, limit=10_000, include_resolved=True) if n.id == note_id)

    def note(self, thread_id: str, note_id: int) -> Note | None:
        """One of the thread's notes, open or resolved; None when it has no such note."""
        row = self.db.read(
            lambda c: c.execute("SELECT * FROM notes WHERE id = ? AND thread_id = ?", (note_id, thread_id)).fetchone()
        )
        if row is None:
            return None
        return Note(row["id"], row["thread_id"], row["kind"], row["text"], bool(row["resolved"]), row["created_at"])

    def notes(self, thread_id: str, limit: int = 50, include_resolved: bool = False) -> builtins.list[Note]:
        """Newest first."""
        sql = "SELECT * FROM notes WHERE thread_id = ?"
        if not include_resolved:
            sql += " AND resolved = 0"
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.db.read(lambda c: c.execute(sql, (thread_id, limit)).fetchall())
        return [Note(r["id"], r["thread_id"], r["kind"], r["text"], bool(r["resolved"]), r["created_at"]) for r in rows]


TITLE_MAX = 200


def _visible(text: str) -> bool:
    """Whether the text shows anything: spaces and format characters (U+200B…) alone do not."""
    return any(not ch.isspace() and not invisible(ch) for ch in text)


def _title(title: str) -> str:
    """A thread's title is one short line: it is shown in menus and sent to the model with every heartbeat (a
    100,000-character title once filled the prompt, and the failure blamed HEARTBEAT.md)."""
    flat = " ".join(title.split())
    if not _visible(flat):
        raise StoreError("the title is empty")
    if len(flat) > TITLE_MAX:
        raise StoreError(f"the title is {len(flat):,} characters; the most is {TITLE_MAX}")
    return flat


def _bounded(what: str, text: str) -> None:
    if len(text) > TEXT_MAX:
        raise StoreError(f"the {what} is {len(text):,} characters; the most is {TEXT_MAX:,}")
