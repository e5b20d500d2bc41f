"""What a finished run should tell the user on the desktop, and how bursts of failures are folded.

Pure rules (no Qt, no D-Bus): the Qt layer turns a `Notice` into a freedesktop notification or a tray
balloon. Posts and failures notify by default, comments and votes only when the thread opts in;
`none` (HEARTBEAT_OK), skips and dry runs never notify — the user finds those in History.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .citations import because_of_run
from .config import HeartbeatConfig
from .models import RunRecord
from .refusals import QUIET_REFUSALS, refused

BODY_CHARS = 160


# What a notification lets the user do from the notification itself (freedesktop actions; the tray balloon
# has no buttons, so clicking it does `default_action`). Keys are sent on the wire; labels are shown.
UNDO, SNOOZE, RETRY, HISTORY, RESUME, OPEN = "undo", "snooze", "retry", "history", "resume", "open"
NOT_USEFUL = "not_useful"
EDIT = "edit"  # the thread's HEARTBEAT.md in the editor (a missing one: "Create it from the template" there)
ACTION_LABELS = {
    UNDO: "Undo",
    NOT_USEFUL: "Not useful",
    SNOOZE: "Snooze this thread 1 h",
    RETRY: "Retry",
    HISTORY: "Open history",
    RESUME: "Resume",
    OPEN: "Open",
    EDIT: "Open HEARTBEAT.md",
}
SNOOZE_S = 3600


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    critical: bool = False
    thread_id: str | None = None
    post_id: int | None = None
    actions: tuple[str, ...] = ()
    # What Undo takes back: ("post" | "comment" | "vote", its id). Only for what the agent wrote.
    undo: tuple[str, int] | None = None
    run_id: str | None = None
    # A failure that must be seen on its own (a thread paused): never folded into "N more failed".
    alone: bool = False
    # Names a condition (e.g. "health"): the app withdraws the notification when the condition is over.
    key: str | None = None
    # A failure whose condition ended while it was held (Do Not Disturb): still said, but as over (#27 item 4).
    over: bool = False
    # A folded burst ("3 more heartbeats failed"): the keys of the failures in it ("" for one without a key).
    # The notifier withdraws the burst once every one of them is over.
    covers: tuple[str, ...] = ()

    @property
    def default_action(self) -> str:
        """What a click on the notification's body (or the tray balloon) does: show what it is about."""
        if self.post_id is not None:
            return OPEN
        return HISTORY if self.critical or self.thread_id else OPEN


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
    "duplicate": "The model repeated a post it already made: change HEARTBEAT.md, or try another model.",
    "not_allowed": "The thread's own limits refused it (Settings → the thread).",
    "daily_cap": "The thread's own limits refused it (Settings → the thread).",
    "rejected_before": "The model repeated an answer you had rejected: nothing was written. Try another model.",
    "heartbeat_md": "Put HEARTBEAT.md back (Open HEARTBEAT.md offers the template), or fix its permissions.",
}


def failure_key(thread_id: str) -> str:
    """The key of a thread's failure notice: the app withdraws it when that thread's next heartbeat succeeds
    (found living with the app: "Heartbeat failed" stayed on screen all day after the server was back)."""
    return f"failure:{thread_id}"


def what_to_do(run: RunRecord) -> str:
    if " — " in run.reason:  # the reason carries its own advice
        return ""
    if run.error_kind in WHAT_TO_DO:
        return WHAT_TO_DO[run.error_kind]
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
            actions=(RESUME, HISTORY),
            run_id=run.id,
            alone=True,
        )
    if run.status == "failed":
        if not config.notify_failures or run.error_kind in QUIET_REFUSALS:
            return None
        if refused(run.status, run.error_kind):  # the app's own rules stopped the answer: news, not trouble
            return Notice(
                f"Nothing done in {where}",
                f"{run.reason}\n{what_to_do(run) or 'Open History for the model’s answer.'}".rstrip(),
                thread_id=run.thread_id,
                actions=(HISTORY,),
                run_id=run.id,
            )
        advice = what_to_do(run)
        body = f"{run.reason}\n{advice}" if advice else run.reason
        return Notice(
            f"Heartbeat failed in {where}",
            body,
            critical=True,
            thread_id=run.thread_id,
            # A missing or unreadable HEARTBEAT.md: a Retry fails the same way; the editor is where to fix it.
            actions=(EDIT, HISTORY) if run.error_kind == "heartbeat_md" else (RETRY, HISTORY),
            run_id=run.id,
            key=failure_key(run.thread_id),
        )
    if run.status != "ok" or not run.decision:
        return None
    decision, result = run.decision, run.action_result or {}
    action = decision.get("action")
    post_id = result.get("post_id")
    undo = _undo_target(action, result)
    # "Not useful" (#26): the user's word on the action, kept with the run; the reason is said in the Feed or
    # History, where there is room for it (a notification's buttons take no second choice).
    acts = (UNDO, NOT_USEFUL, SNOOZE) if undo else (NOT_USEFUL, SNOOZE)
    common: dict[str, Any] = {
        "thread_id": run.thread_id,
        "post_id": post_id,
        "actions": acts,
        "undo": undo,
        "run_id": run.id,
    }
    # Why (#26): "Because rule 2 (“…”) and post #22." under the text, so the user can judge the action.
    why = because_of_run(decision, run.inputs)
    tail = f"\n{_start(why[0].upper() + why[1:], 160)}." if why else ""
    if action == "post" and config.notify_posts:
        body = _start(decision.get("content", ""))
        return Notice(f"{where}: {decision.get('title', 'New post')}", body + tail, **common)
    target = result.get("post_title") or f"#{decision.get('post_id')}"
    if action == "comment" and config.notify_comments:
        return Notice(f"{where} commented on “{target}”", _start(decision.get("content", "")) + tail, **common)
    if action == "vote" and config.notify_votes:
        title = f"{where} voted {decision.get('direction')} on “{target}”"
        return Notice(title, _start(decision.get("reason", "")) + tail, **common)
    return None


def _undo_target(action: object, result: dict[str, Any]) -> tuple[str, int] | None:
    """What Undo would take back. A vote that replaced an earlier one is not offered Undo: removing it
    would not bring the earlier vote back, so "undo" would not mean what it says."""
    if action == "post" and isinstance(result.get("post_id"), int):
        return ("post", result["post_id"])
    if action == "comment" and isinstance(result.get("comment_id"), int):
        return ("comment", result["comment_id"])
    if action == "vote" and isinstance(result.get("vote_id"), int) and result.get("previous") is None:
        return ("vote", result["vote_id"])
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
    title = f"{len(notices)} {'more ' if more else ''}heartbeats failed"
    return Notice(title, body, critical=True, actions=(HISTORY,), covers=tuple(n.key or "" for n in notices))


def ended(notice: Notice) -> Notice:
    """A held failure whose condition is over (the server is back): the user still learns it happened, but
    nothing is withdrawn later and it does not stay on screen as a problem of now."""
    if notice.over:
        return notice
    return replace(notice, title=f"{notice.title} (over now)", key=None, over=True)


def held_summary(notices: list[Notice]) -> Notice:
    """What was held back while Do Not Disturb was on, as one notification once it is off. A failure that
    is over by then still counts (#27 item 4: it used to vanish with its withdrawal)."""
    if len(notices) == 1:
        return replace(notices[0], critical=False) if notices[0].over else notices[0]
    failures = [n for n in notices if n.critical]
    others = [n for n in notices if not n.critical]
    parts = []
    if others:
        parts.append(f"{len(others)} update{'s' if len(others) != 1 else ''}")
    if failures:
        parts.append(f"{len(failures)} failure{'s' if len(failures) != 1 else ''}")
    lines = [_start(n.title, 100) for n in notices[:4]]
    if len(notices) > 4:
        lines.append(f"… and {len(notices) - 4} more")
    return Notice(
        f"While Do Not Disturb was on: {' and '.join(parts)}",
        "\n".join(lines),
        critical=any(not n.over for n in failures),
        actions=(HISTORY,),
    )
