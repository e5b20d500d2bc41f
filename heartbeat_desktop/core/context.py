"""The thread's recent context, bounded so a long thread cannot blow the model's context window.

Items are taken newest first, each truncated, round-robin across kinds (messages, open notes, feed
posts) until the character budget is spent, so no kind can starve the others. A feed post carries its newest
few comments (author and text, each clipped), so the agent can see that a question it asked was answered;
where a post with them does not fit what is left, its oldest comments go first, then the post. The budget counts the
item as rendered (keys and quoting included): the runner derives it from the model's context window.

The result is rendered as JSON, one item per line: untrusted text (the user's messages, other threads'
posts, the comments on them) travels as quoted data, never as free text the model could mistake for
instructions. `<` and `>` are written as JSON escapes, so no message can close the prompt's `<context>` block
and speak outside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .citations import message_ref, note_ref, post_ref
from .feedback import RejectedAction
from .models import FeedComment, FeedPost, Message, Note

DEFAULT_BUDGET_CHARS = 8000
DEFAULT_ITEM_CHARS = 600
MESSAGE_LIMIT = 20
NOTE_LIMIT = 20
POST_LIMIT = 15
REJECTED_LIMIT = 5
COMMENT_LIMIT = 3  # a post's newest comments shown with it: enough to see a question answered
COMMENT_CHARS = 300  # each, clipped: three comments must not crowd out the thread's own messages


@dataclass
class Context:
    messages: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    # The thread's own actions the user rejected (core/feedback.py): the newest few, as data.
    rejected: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> str:
        kinds = [("recent_messages", self.messages), ("open_notes", self.notes), ("feed_posts", self.posts)]
        if self.rejected:
            kinds.append(("rejected_by_user", self.rejected))
        blocks = [
            f'"{name}": [' + ("\n" + ",\n".join(render_item(i) for i in items) + "\n" if items else "") + "]"
            for name, items in kinds
        ]
        return "{\n" + ",\n".join(blocks) + "\n}"

    @property
    def post_ids(self) -> set[int]:
        return {p["id"] for p in self.posts}

    @property
    def refs(self) -> list[str]:
        """The refs of every item shown (core/citations.py): what a decision's `because` may cite."""
        return [i["ref"] for i in (*self.messages, *self.notes, *self.posts)]


def render_item(item: dict[str, Any]) -> str:
    """One item as a JSON line that cannot contain `<` or `>` (escaped: still the same JSON string)."""
    return json.dumps(item, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _clip(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: limit - 1] + "…", True


def _comment(comment: FeedComment, limit: int) -> dict[str, Any]:
    """A comment as data: who wrote it (the user, or the thread whose agent did) and its clipped text."""
    author = "user" if comment.thread_id is None else comment.thread_id
    return {"author": author, "text": _clip(comment.content, limit)[0], "at": _iso(comment.created_at)}


def _fit(item: dict[str, Any], room: int) -> int:
    """The item's rendered size once its oldest comments are dropped until it fits `room` (its size with
    none left when even that does not fit): a long discussion must not cost the post itself its place."""
    size = len(render_item(item)) + 2
    comments = item.get("latest_comments")
    while comments and size > room:
        comments.pop(0)
        if not comments:
            del item["latest_comments"]
        size = len(render_item(item)) + 2
    return size


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def build_context(
    messages: list[Message],
    notes: list[Note],
    posts: list[FeedPost],
    budget_chars: int = DEFAULT_BUDGET_CHARS,
    item_chars: int = DEFAULT_ITEM_CHARS,
    rejected: list[RejectedAction] | None = None,
    seen: set[str] | None = None,
) -> Context:
    """Bound the inputs (each already newest first) to `budget_chars` of item text. Items in `seen` (shown to
    the thread's last answered heartbeat) say so: an action must cite one that is not (core/citations.py)."""
    ctx = Context()
    queues: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    msg_items: list[dict[str, Any]] = []
    for m in messages:
        text, cut = _clip(m.text, item_chars)
        ctx.truncated |= cut
        msg_items.append({"ref": message_ref(m.id), "role": m.role, "at": _iso(m.created_at), "text": text})
    note_items: list[dict[str, Any]] = []
    for n in notes:
        text, cut = _clip(n.text, item_chars)
        ctx.truncated |= cut
        note_items.append({"ref": note_ref(n.id), "kind": n.kind, "text": text})
    post_items: list[dict[str, Any]] = []
    for p in posts:
        content, cut = _clip(p.content, item_chars)
        ctx.truncated |= cut
        item: dict[str, Any] = {
            "ref": post_ref(p.id),
            "id": p.id,
            "title": p.title,
            "content": content,
            "score": p.score,
            "comments": p.comment_count,
            "thread": p.thread_id,
            "at": _iso(p.created_at),
        }
        if p.latest_comments:
            item["latest_comments"] = [_comment(c, min(item_chars, COMMENT_CHARS)) for c in p.latest_comments]
            ctx.truncated |= any(len(c.content) > COMMENT_CHARS for c in p.latest_comments)
        post_items.append(item)
    for item in (*msg_items, *note_items, *post_items):
        if seen and item["ref"] in seen:
            item["seen"] = True
    rejected_items = [
        {"action": r.action, "title": _clip(r.title, 200)[0], "user": r.how, "reason": r.reason, "at": _iso(r.at)}
        for r in (rejected or [])
    ]
    queues = [
        (msg_items, ctx.messages),
        (note_items, ctx.notes),
        (post_items, ctx.posts),
        (rejected_items, ctx.rejected),
    ]

    spent = 0
    progressed = True
    while progressed:
        progressed = False
        for source, sink in queues:
            if not source:
                continue
            item = source[0]
            size = len(render_item(item)) + 2
            if spent + size > budget_chars and "latest_comments" in item:
                size = _fit(item, budget_chars - spent)
                ctx.truncated = True
            if spent + size > budget_chars:
                source.clear()  # older items of this kind would not fit either once this one does not
                ctx.truncated = True
                continue
            sink.append(source.pop(0))
            spent += size
            progressed = True
    return ctx
