"""The user's answer to an agent's post: a comment of their own, and the notes the post was about (#27 item 3).

An agent raises an open contradiction as a question in the feed; the user answers it with a comment. Without a
way to close the note, the agent went on seeing "an open contradiction" forever. A post the agent made links to
its notes through the run that wrote it: the run's decision cites its reasons (`because`, core/citations.py),
and `n12` is note 12. So no new column is needed: `post_notes` reads the post's run, and a comment's answer
lists the contradiction notes it cited that are still open, for the caller to offer resolving (the Feed window
asks, the CLI prints the command, the API returns them as a field). Nothing is resolved without the user's word.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..core.models import TEXT_MAX, Note
from ..core.ports import PostNotFound, StoreError
from .db import Database
from .threads import _visible

OFFERED_KINDS = ("contradiction",)  # a memory note is kept knowledge, not a question an answer closes


@dataclass(frozen=True)
class Answer:
    """A comment the user wrote, and the still-open notes the post it answers was raised from."""

    comment_id: int
    post_id: int
    open_notes: tuple[Note, ...]


class AnswerRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def comment(self, post_id: int, content: str) -> Answer:
        """The user's comment on post `post_id` (no thread, no run: it is the user's, never undone as the
        agent's). Raises PostNotFound, or StoreError for an empty or oversized comment."""
        if not _visible(content):
            raise StoreError("the comment is empty (or only invisible characters)")
        if len(content) > TEXT_MAX:
            raise StoreError(f"the comment is {len(content):,} characters; the most is {TEXT_MAX:,}")
        now = self.clock()

        def work(c: sqlite3.Connection) -> int:
            if c.execute("SELECT 1 FROM posts WHERE id = ?", (post_id,)).fetchone() is None:
                raise PostNotFound(f"post {post_id} does not exist")
            cur = c.execute(
                "INSERT INTO comments (post_id, thread_id, run_id, content, created_at) VALUES (?, NULL, NULL, ?, ?)",
                (post_id, content, now),
            )
            return int(cur.lastrowid or 0)

        comment_id = self.db.transaction(work)
        return Answer(comment_id, post_id, tuple(self.post_notes(post_id)))

    def post_notes(self, post_id: int, *, open_only: bool = True) -> list[Note]:
        """The notes (of `OFFERED_KINDS`) of the post's own thread that the run which wrote it cited, oldest
        first; none for a post that is not the agent's, or whose run's record is gone."""

        def work(c: sqlite3.Connection) -> list[sqlite3.Row]:
            row = c.execute(
                "SELECT p.thread_id, r.decision FROM posts p JOIN runs r ON r.id = p.run_id WHERE p.id = ?",
                (post_id,),
            ).fetchone()
            if row is None or row["thread_id"] is None:
                return []
            ids = _note_ids(row["decision"])
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            sql = f"SELECT * FROM notes WHERE thread_id = ? AND id IN ({marks}) ORDER BY id"  # noqa: S608 (only ?s)
            return c.execute(sql, (row["thread_id"], *ids)).fetchall()

        notes = [
            Note(r["id"], r["thread_id"], r["kind"], r["text"], bool(r["resolved"]), r["created_at"])
            for r in self.db.read(work)
        ]
        return [n for n in notes if n.kind in OFFERED_KINDS and not (open_only and n.resolved)]


def _note_ids(decision: object) -> list[int]:
    """The note ids a stored decision cites (`because: ["n12", "m3"]` → [12]); a damaged record cites none."""
    if isinstance(decision, str):
        try:
            decision = json.loads(decision)
        except ValueError:
            return []
    because = decision.get("because") if isinstance(decision, dict) else None
    if not isinstance(because, list):
        return []
    refs = [r for r in because if isinstance(r, str) and r[:1] == "n" and r[1:].isdigit() and len(r) <= 19]
    return sorted({int(r[1:]) for r in refs})
