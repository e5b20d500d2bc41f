"""The runner's store for one eval situation (core/evaluation.py): answers from the situation, writes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .actions import post_key
from .citations import message_ref, note_ref, post_ref
from .config import HeartbeatConfig
from .eval_suite import EVAL_THREAD, Situation
from .feedback import RejectedAction
from .models import FeedPost, Message, Note, RunRecord, Thread
from .ports import DailyCap


class SituationStore:
    """The runner's store, answering from one situation and writing nothing (`record=False` never calls
    the write methods; they refuse, so a change that did would fail loudly here)."""

    def __init__(self, situation: Situation, config: HeartbeatConfig) -> None:
        self.situation = situation
        now = situation.now_ts
        self._thread = Thread(EVAL_THREAD, situation.title, None, config.to_json(), now - 86400, None, config=config)
        n = len(situation.messages)
        # Newest first, as the store answers; ids rise with time.
        self._messages = sorted(
            (
                Message(n - i, EVAL_THREAD, m.role, m.text, now - m.minutes_ago * 60)
                for i, m in enumerate(situation.messages)
            ),
            key=lambda m: m.created_at,
            reverse=True,
        )
        self._notes = [
            Note(i + 1, EVAL_THREAD, note.kind, note.text, False, now - 3600)
            for i, note in enumerate(reversed(situation.notes))
        ]
        self._posts = sorted((p.feed_post(now) for p in situation.posts), key=lambda p: p.created_at, reverse=True)
        # What the situation says its last heartbeat already saw (the "nothing new" rule); none marked: there
        # was no such heartbeat.
        notes = len(situation.notes)
        self._seen = (
            {message_ref(n - i) for i, m in enumerate(situation.messages) if m.seen}
            | {note_ref(notes - j) for j, note in enumerate(situation.notes) if note.seen}
            | {post_ref(p.id) for p in situation.posts if p.seen}
        )

    def get_thread(self, thread_id: str) -> Thread | None:
        return self._thread if thread_id == EVAL_THREAD else None

    def thread_fingerprint(self, thread_id: str) -> str:
        return f"situation:{self.situation.id}"

    def last_success_fingerprint(self, thread_id: str) -> str | None:
        return None

    def recent_messages(self, thread_id: str, limit: int) -> list[Message]:
        return self._messages[:limit]

    def open_notes(self, thread_id: str, limit: int) -> list[Note]:
        return self._notes[:limit]

    def recent_posts(self, limit: int, comments_each: int = 0) -> list[FeedPost]:
        """As the store answers: each post with its newest `comments_each` comments, oldest of them first."""
        newest = (lambda p: p.latest_comments[-comments_each:]) if comments_each > 0 else (lambda _p: ())
        return [replace(p, latest_comments=newest(p)) for p in self._posts[:limit]]

    def rejected_actions(self, thread_id: str, limit: int) -> list[RejectedAction]:
        now = self.situation.now_ts
        found = [
            RejectedAction(r.action, r.title, r.how, r.reason, now - r.minutes_ago * 60, r.post_id)
            for r in self.situation.rejected
        ]
        return sorted(found, key=lambda r: r.at, reverse=True)[:limit]

    def post_exists(self, post_id: int) -> bool:
        return any(p.id == post_id for p in self._posts)

    def refs_seen_last(self, thread_id: str) -> set[str] | None:
        return set(self._seen) or None

    def actions_since(self, thread_id: str, since: float) -> dict[str, int]:
        done = self.situation.done_today
        return {kind: done.get(kind, 0) for kind in ("post", "comment", "vote")}

    def same_post_since(self, title: str, content: str, since: float) -> tuple[int, str | None] | None:
        wanted = post_key(title, content)
        recent = (p for p in self._posts if p.created_at >= since)
        return next(((p.id, p.thread_id) for p in recent if post_key(p.title, p.content) == wanted), None)

    def recent_answers(self, thread_id: str, limit: int) -> list[tuple[str, str | None]]:
        return []

    def last_run_outcome(self, thread_id: str) -> tuple[str, str] | None:
        return None

    def pause_thread(self, thread_id: str) -> None:
        raise RuntimeError("an evaluation writes nothing")

    def insert_run(self, run: RunRecord) -> None:
        raise RuntimeError("an evaluation writes nothing")

    def finish_run(
        self,
        run: RunRecord,
        action: dict[str, Any] | None = None,
        target: str = "none",
        md_hash: str = "",
        cap: DailyCap | None = None,
    ) -> dict[str, Any] | None:
        raise RuntimeError("an evaluation writes nothing")
