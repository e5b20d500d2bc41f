"""What a finished run should tell the user on the desktop, and how bursts of failures are folded.

Pure rules (no Qt, no D-Bus): the Qt layer turns a `Notice` into a freedesktop notification or a tray
balloon. Posts and failures notify by default, comments and votes only when the thread opts in;
`none` (HEARTBEAT_OK), skips and dry runs never notify — the user finds those in History.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import HeartbeatConfig
from .models import RunRecord

BODY_CHARS = 160


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    critical: bool = False
    thread_id: str | None = None
    post_id: int | None = None


def _start(text: str, limit: int = BODY_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def notice_for(run: RunRecord, config: HeartbeatConfig) -> Notice | None:
    if run.dry_run:  # asked for by someone watching its answer (the CLI, the API): no desktop noise
        return None
    if run.status == "failed":
        if not config.notify_failures:
            return None
        return Notice(f"Heartbeat failed ({run.thread_id})", run.reason, critical=True, thread_id=run.thread_id)
    if run.status != "ok" or run.dry_run or not run.decision:
        return None
    decision, result = run.decision, run.action_result or {}
    action = decision.get("action")
    post_id = result.get("post_id")
    if action == "post" and config.notify_posts:
        return Notice(
            decision.get("title", "New post"),
            _start(decision.get("content", "")),
            thread_id=run.thread_id,
            post_id=post_id,
        )
    if action == "comment" and config.notify_comments:
        title = f"Commented on post #{decision.get('post_id')}"
        return Notice(title, _start(decision.get("content", "")), thread_id=run.thread_id, post_id=post_id)
    if action == "vote" and config.notify_votes:
        title = f"Voted {decision.get('direction')} on post #{decision.get('post_id')}"
        return Notice(title, _start(decision.get("reason", "")), thread_id=run.thread_id, post_id=post_id)
    return None


def fold_failures(notices: list[Notice]) -> Notice:
    """Several failures close together become one notification: "3 heartbeats failed"."""
    if len(notices) == 1:
        return notices[0]
    reasons: list[str] = []
    for notice in notices:
        line = f"{notice.thread_id}: {notice.body}"
        if line not in reasons:
            reasons.append(line)
    body = "\n".join(_start(r, 120) for r in reasons[:3])
    if len(reasons) > 3:
        body += f"\n… and {len(reasons) - 3} more"
    return Notice(f"{len(notices)} heartbeats failed", body, critical=True)
