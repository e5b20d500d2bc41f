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


# What to do about a failure, by its kind, when the reason itself does not already say (" — …").
WHAT_TO_DO = {
    "unreachable": "Start the model server (ollama serve) or check its address in Settings.",
    "model_not_found": "Install the model (ollama pull NAME) or pick another in Settings.",
    "http_error": "The model server reported an error: see its log, then Retry.",
    "timeout": "Use a smaller model, or raise the timeout in Settings.",
    "invalid_reply": "The model's answer was not a decision: Retry, or try another model in Settings.",
    "context_overflow": "Lower context_tokens in Settings, or use a model with a larger window.",
    "auth": "Set the provider's key: Settings → Providers.",
}


def what_to_do(run: RunRecord) -> str:
    if " — " in run.reason:  # the reason carries its own advice
        return ""
    if run.error_kind in WHAT_TO_DO:
        return WHAT_TO_DO[run.error_kind]
    if run.reason.startswith("refused:"):
        return "The thread's own limits refused it (Settings → the thread)."
    if run.reason.startswith(("invalid", "the prompt does not fit")):
        return WHAT_TO_DO["invalid_reply" if run.reason.startswith("invalid") else "context_overflow"]
    return "Open History for the details."


def notice_for(run: RunRecord, config: HeartbeatConfig, thread_title: str | None = None) -> Notice | None:
    if run.dry_run:  # asked for by someone watching its answer (the CLI, the API): no desktop noise
        return None
    where = thread_title or run.thread_id
    if run.paused_thread:  # shown whatever the mutes: the thread stops until the user resumes it
        return Notice(
            f"Heartbeats paused for {where}",
            f"The model gave the same answer, refused each time, {config.pause_after_same_answer} times in a row: "
            f"{run.reason}\nChange HEARTBEAT.md or the model, then resume the thread (Threads window, or "
            f"heartbeat-desktop threads resume {run.thread_id}).",
            critical=True,
            thread_id=run.thread_id,
        )
    if run.status == "failed":
        if not config.notify_failures:
            return None
        advice = what_to_do(run)
        body = f"{run.reason}\n{advice}" if advice else run.reason
        return Notice(f"Heartbeat failed in {where}", body, critical=True, thread_id=run.thread_id)
    if run.status != "ok" or not run.decision:
        return None
    decision, result = run.decision, run.action_result or {}
    action = decision.get("action")
    post_id = result.get("post_id")
    if action == "post" and config.notify_posts:
        return Notice(
            f"{where}: {decision.get('title', 'New post')}",
            _start(decision.get("content", "")),
            thread_id=run.thread_id,
            post_id=post_id,
        )
    target = result.get("post_title") or f"#{decision.get('post_id')}"
    if action == "comment" and config.notify_comments:
        title = f"{where} commented on “{target}”"
        return Notice(title, _start(decision.get("content", "")), thread_id=run.thread_id, post_id=post_id)
    if action == "vote" and config.notify_votes:
        title = f"{where} voted {decision.get('direction')} on “{target}”"
        return Notice(title, _start(decision.get("reason", "")), thread_id=run.thread_id, post_id=post_id)
    return None


def fold_failures(notices: list[Notice], more: bool = False) -> Notice:
    """Several failures close together become one notification: "3 heartbeats failed" ("3 more…" when
    the first of the burst was already shown on its own)."""
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
    return Notice(f"{len(notices)} {'more ' if more else ''}heartbeats failed", body, critical=True)
