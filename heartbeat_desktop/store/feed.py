"""The local feed (the web heartbeat's "ledger"): posts, comments and votes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..core.feedback import FeedbackSource
from ..core.models import FeedComment, FeedPost
from ..core.ports import PostNotFound, StoreError
from .db import Database
from .feedback import record_in

_POSTS_WITH_SCORE = """
    SELECT p.id, p.thread_id, p.run_id, p.title, p.content, p.created_at,
           COALESCE((SELECT SUM(CASE v.direction WHEN 'up' THEN 1 ELSE -1 END)
                     FROM votes v WHERE v.post_id = p.id), 0) AS score,
           (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count
    FROM posts p
"""


def _post(r: sqlite3.Row) -> FeedPost:
    return FeedPost(
        id=r["id"],
        thread_id=r["thread_id"],
        title=r["title"],
        content=r["content"],
        score=r["score"],
        comment_count=r["comment_count"],
        created_at=r["created_at"],
        run_id=r["run_id"],
    )


class FeedRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def posts(self, limit: int = 50, before_id: int | None = None) -> list[FeedPost]:
        """Newest first; keyset paging by `before_id` so deep pages stay cheap."""
        if before_id is None:
            rows = self.db.read(
                lambda c: c.execute(_POSTS_WITH_SCORE + " ORDER BY p.id DESC LIMIT ?", (limit,)).fetchall()
            )
        else:
            rows = self.db.read(
                lambda c: c.execute(
                    _POSTS_WITH_SCORE + " WHERE p.id < ? ORDER BY p.id DESC LIMIT ?", (before_id, limit)
                ).fetchall()
            )
        return [_post(r) for r in rows]

    def get_post(self, post_id: int) -> FeedPost | None:
        row = self.db.read(lambda c: c.execute(_POSTS_WITH_SCORE + " WHERE p.id = ?", (post_id,)).fetchone())
        return _post(row) if row else None

    def post_exists(self, post_id: int) -> bool:
        return self.post_of_run(post_id, None)

    def post_of_run(self, post_id: int, run_id: str | None) -> bool:
        """Post `post_id` exists (and, given `run_id`, is the one that run wrote: a run's notification)."""
        row = self.db.read(lambda c: c.execute("SELECT run_id FROM posts WHERE id = ?", (post_id,)).fetchone())
        return row is not None and (run_id is None or row["run_id"] == run_id)

    def comments(self, post_id: int) -> list[FeedComment]:
        rows = self.db.read(
            lambda c: c.execute("SELECT * FROM comments WHERE post_id = ? ORDER BY id", (post_id,)).fetchall()
        )
        return [
            FeedComment(r["id"], r["post_id"], r["thread_id"], r["run_id"], r["content"], r["created_at"]) for r in rows
        ]

    def latest_comments(self, post_ids: list[int], each: int) -> dict[int, list[FeedComment]]:
        """The newest `each` comments of every post in `post_ids`, oldest of them first: one query for a
        heartbeat's whole feed (15 posts), not one per post."""
        if not post_ids or each <= 0:
            return {}
        sql = (  # the ids as one JSON parameter: no SQL is built from values
            "SELECT * FROM (SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.post_id ORDER BY c.id DESC) AS newest"
            " FROM comments c WHERE c.post_id IN (SELECT value FROM json_each(?))) WHERE newest <= ?"
            " ORDER BY post_id, id"
        )
        rows = self.db.read(lambda c: c.execute(sql, (json.dumps(post_ids), each)).fetchall())
        found: dict[int, list[FeedComment]] = {}
        for r in rows:
            found.setdefault(r["post_id"], []).append(
                FeedComment(r["id"], r["post_id"], r["thread_id"], r["run_id"], r["content"], r["created_at"])
            )
        return found

    def counts(self) -> dict[str, int]:
        def work(c: sqlite3.Connection) -> dict[str, int]:
            return {
                table: c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
                for table in ("posts", "comments", "votes", "messages")
            }

        return self.db.read(work)

    # ------------------------------------------------------------------ writes (inside a transaction)
    def write_action(
        self, c: sqlite3.Connection, action: dict[str, Any], thread_id: str, run_id: str | None, now: float
    ) -> dict[str, Any]:
        """Write one validated, sanitised action. Must run inside the caller's transaction."""
        kind = action["action"]
        if kind == "post":
            cur = c.execute(
                "INSERT INTO posts (thread_id, run_id, title, content, created_at) VALUES (?, ?, ?, ?, ?)",
                (thread_id, run_id, action["title"], action["content"], now),
            )
            return {"action": "post", "post_id": cur.lastrowid, "title": action["title"]}
        post = c.execute("SELECT id, title FROM posts WHERE id = ?", (action["post_id"],)).fetchone()
        if post is None:
            raise PostNotFound(f"post {action['post_id']} does not exist")
        if kind == "comment":
            cur = c.execute(
                "INSERT INTO comments (post_id, thread_id, run_id, content, created_at) VALUES (?, ?, ?, ?, ?)",
                (action["post_id"], thread_id, run_id, action["content"], now),
            )
            return {
                "action": "comment",
                "comment_id": cur.lastrowid,
                "post_id": post["id"],
                "post_title": post["title"],
            }
        if kind == "vote":
            # One vote per thread per post; a later vote replaces the earlier one.
            before = c.execute(
                "SELECT direction FROM votes WHERE post_id = ? AND thread_id = ?", (action["post_id"], thread_id)
            ).fetchone()
            c.execute(
                """INSERT INTO votes (post_id, thread_id, run_id, direction, created_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (post_id, thread_id)
                   DO UPDATE SET direction = excluded.direction, run_id = excluded.run_id,
                                 created_at = excluded.created_at""",
                (action["post_id"], thread_id, run_id, action["direction"], now),
            )
            vote = c.execute(
                "SELECT id FROM votes WHERE post_id = ? AND thread_id = ?", (action["post_id"], thread_id)
            ).fetchone()
            return {
                "action": "vote",
                "vote_id": vote["id"],
                "post_id": post["id"],
                "post_title": post["title"],
                "direction": action["direction"],
                "previous": before["direction"] if before else None,  # the vote it replaced, if any
            }
        raise StoreError(f"unknown action {kind!r}")

    def votes(self, post_id: int) -> list[dict[str, Any]]:
        rows = self.db.read(
            lambda c: c.execute("SELECT * FROM votes WHERE post_id = ? ORDER BY id", (post_id,)).fetchall()
        )
        return [dict(r) for r in rows]

    def undo(
        self, kind: str, target_id: int, run_id: str | None = None, source: FeedbackSource = "feed"
    ) -> dict[str, Any]:
        """Take back an action the agent took. The row (and, for a post, its comments and votes) is removed
        and a snapshot kept in `undo_log`, so the undo itself is on record and nothing is lost.

        With `run_id` (a notification's Undo knows the run it announced), the row must also be that run's:
        ids are never reused (migration 11), and this keeps an old button from ever taking back another row."""
        table = {"post": "posts", "comment": "comments", "vote": "votes"}.get(kind)
        if table is None:
            raise StoreError(f"cannot undo a {kind!r}")
        now = self.clock()

        def work(c: sqlite3.Connection) -> dict[str, Any]:
            row = c.execute(f"SELECT * FROM {table} WHERE id = ?", (target_id,)).fetchone()  # noqa: S608 - fixed
            if run_id is not None and (row is None or row["run_id"] != run_id):
                raise StoreError(f"that {kind} was already taken back")
            if row is None:
                raise StoreError(f"{kind} {target_id} does not exist (already undone?)")
            if row["run_id"] is None:
                raise StoreError(f"{kind} {target_id} was made by you, not by the agent")
            snapshot: dict[str, Any] = {kind: dict(row)}
            if kind == "post":
                snapshot["comments"] = [
                    dict(r) for r in c.execute("SELECT * FROM comments WHERE post_id = ?", (target_id,))
                ]
                snapshot["votes"] = [dict(r) for r in c.execute("SELECT * FROM votes WHERE post_id = ?", (target_id,))]
            c.execute(f"DELETE FROM {table} WHERE id = ?", (target_id,))  # noqa: S608 - fixed table name
            cur = c.execute(
                "INSERT INTO undo_log (kind, target_id, run_id, snapshot, created_at) VALUES (?, ?, ?, ?, ?)",
                (kind, target_id, row["run_id"], json.dumps(snapshot), now),
            )
            said = record_in(c, row["run_id"], "undo", source, None, now)  # the user disagreed: on record (#26)
            return {
                "undo_id": cur.lastrowid,
                "kind": kind,
                "target_id": target_id,
                "run_id": row["run_id"],
                "note": said.note,
            }

        return self.db.transaction(work)

    def undo_log(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.read(lambda c: c.execute("SELECT * FROM undo_log WHERE run_id = ?", (run_id,)).fetchall())
        return [dict(r) for r in rows]

    def vote(self, post_id: int, thread_id: str, direction: str) -> dict[str, Any]:
        """A vote cast by the user (not the agent), attributed to `thread_id`. On a post the agent wrote it is
        also the user's word on that action (#26): a down-vote rejects it, an up-vote keeps it."""
        if direction not in ("up", "down"):
            raise StoreError("direction must be up or down")
        now = self.clock()

        def work(c: sqlite3.Connection) -> dict[str, Any]:
            result = self.write_action(
                c, {"action": "vote", "post_id": post_id, "direction": direction}, thread_id, None, now
            )
            post = c.execute("SELECT run_id FROM posts WHERE id = ?", (post_id,)).fetchone()
            if post is not None and post["run_id"] is not None and result.get("previous") != direction:
                kind = "down_vote" if direction == "down" else "up_vote"
                result["note"] = record_in(c, post["run_id"], kind, "feed", None, now).note
            return result

        return self.db.transaction(work)
