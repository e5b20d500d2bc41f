"""How runs, threads and feed posts are shown outside the app: one line of text, or a JSON object.

One module for both the command line and the local API, so a field added to a run shows up the same way
in `history --json` and `GET …/history`, and a timestamp is written one way everywhere (local time with
its offset in JSON, seconds-precise local time in text). It lives in the core, not in the CLI package:
the API sits below the CLI in the layers (pyproject.toml) and may not import from it.

The JSON shapes are public (scripts and API clients parse them): keys and their order stay as they are.
Pure functions: no I/O, no Qt; the caller fetches the records (and a post's comments) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from . import terminal
from .citations import run_because
from .feedback import Feedback, outcome
from .models import FeedComment, FeedPost, Note, RunRecord, Thread
from .refusals import refused, shown_status, status_words
from .scheduler_state import SchedulerState, ThreadSchedule

# ---------------------------------------------------------------------------- time


def iso(ts: float | None) -> str | None:
    """A Unix time as local ISO 8601 with its UTC offset (what JSON readers parse); None for never."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


TIME_PATTERN = "%Y-%m-%d %H:%M:%S"  # the one way the command line shows a time to a person (JSON: ISO 8601)


def local_time(ts: float | None, zone: tzinfo | None = None) -> str:
    """A Unix time for a person reading a table: local (or on `zone`, a thread's clock), to the second, "-" for
    never."""
    if not ts:
        return "-"
    return (datetime.fromtimestamp(ts, zone) if zone else datetime.fromtimestamp(ts).astimezone()).strftime(
        TIME_PATTERN
    )


def count_of(n: int, noun: str) -> str:
    """ "1 model", "2 models", "0 runs": every count the command line prints reads as English ("1 models",
    "run(s)" did not)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ---------------------------------------------------------------------------- runs


def run_summary(run: RunRecord) -> dict[str, Any]:
    """The public shape of a run result: `run-now --json` and the API's run-now answer with it."""
    return {
        "run_id": run.id,
        "thread_id": run.thread_id,
        "status": run.status,
        "shown_status": status_words(run.status, run.error_kind),
        "dry_run": run.dry_run,
        "action": run.decision,
        "reason": run.reason,
        "why": run_because(run) or None,
        "error_kind": run.error_kind,
        "llm_ms": run.llm_ms,
        "total_ms": run.total_ms,
    }


def acted(run: RunRecord) -> bool:
    """Whether the run wrote something the user can judge (a post, comment or vote; not a dry run)."""
    return run.status == "ok" and not run.dry_run and (run.decision or {}).get("action") in ("post", "comment", "vote")


def user_feedback(run: RunRecord, events: Sequence[Feedback], now: float) -> dict[str, Any] | None:
    """What the user said about the run's action and what it comes to (core/feedback.py); None for a run
    that took no action."""
    if not acted(run) and not events:
        return None
    return {
        "outcome": outcome(events, run.finished_at or run.started_at, now),
        "events": [{"kind": e.kind, "reason": e.reason, "source": e.source, "at": iso(e.created_at)} for e in events],
    }


def run_api_item(run: RunRecord, feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run in the API's history: the summary plus what a client pages and charts by (`started_ts` is
    the `before` cursor for the next page; the token counts feed its usage view) and the user's feedback."""
    return {
        **run_summary(run),
        "feedback": feedback,
        "trigger": run.trigger,
        "model": run.model,
        "raw_reply": run.raw_reply,
        "started_at": iso(run.started_at),
        "started_ts": run.started_at,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
    }


def run_record(run: RunRecord, feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run in `history --json`: the whole stored record (prompt and warnings too), for debugging a
    thread from a shell."""
    return {
        "id": run.id,
        "thread_id": run.thread_id,
        "trigger": run.trigger,
        "status": run.status,
        "shown_status": status_words(run.status, run.error_kind),
        "task": task_of(run) or None,
        "reason": run.reason,
        "dry_run": run.dry_run,
        "model": run.model,
        "prompt": run.prompt,
        "raw_reply": run.raw_reply,
        "decision": run.decision,
        "why": run_because(run) or None,
        "error_kind": run.error_kind,
        "action_result": run.action_result,
        "warnings": run.warnings,
        "llm_ms": run.llm_ms,
        "total_ms": run.total_ms,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "decision_mode": run.decision_mode,
        "reasoning": run.reasoning,
        "reasoning_ms": run.reasoning_ms,
        "slot_at": iso(run.slot_at),
        "late_s": late_by(run),
        "pruned_at": iso(run.pruned_at),
        "feedback": feedback,
    }


def late_by(run: RunRecord) -> float | None:
    """How many seconds after its slot a scheduled run started (it waited for a free model, the machine
    slept); None for a run that served no slot."""
    return None if run.slot_at is None else round(max(0.0, run.started_at - run.slot_at), 1)


def describe_run(run: RunRecord) -> str:
    """One sentence on what a run did, for `run-now` and the tray: the action, where it landed, and why.
    One line, always: a model's newline in its reason must not print a line of its own (a forged row)."""
    return terminal.one_line(_describe_run(run))


def task_of(run: RunRecord) -> str:
    """The task a task's run was for ("daily 08:00: post a summary"), as its inputs keep it; "" for any other
    run or a record without it (details pruned, or damaged)."""
    task = (run.inputs or {}).get("task") if run.trigger == "task" else None
    if not isinstance(task, dict) or not isinstance(task.get("when"), str) or not isinstance(task.get("what"), str):
        return ""
    return f"{task['when']}: {task['what']}"


def _describe_run(run: RunRecord) -> str:
    secs = f"{(run.total_ms or 0) / 1000:.1f} s"
    if refused(run.status, run.error_kind):  # its reason says "refused: …" itself: the app's rules, not a failure
        return f"{run.reason} ({secs})"
    if run.status != "ok":
        return f"{run.status}: {run.reason} ({secs})"
    decision = run.decision or {}
    action = decision.get("action", "none")
    result = run.action_result or {}
    prefix = "dry run, would " if run.dry_run else ""
    if action == "post":
        where = f" as post #{result['post_id']}" if "post_id" in result and not run.dry_run else ""
        text = f"{prefix}post “{decision.get('title')}”{where}"
    elif action == "comment":
        text = f"{prefix}comment on post #{decision.get('post_id')}"
    elif action == "vote":
        text = f"{prefix}vote {decision.get('direction')} on post #{decision.get('post_id')}"
        if result.get("previous") == decision.get("direction"):
            text += " (no change: this thread had already voted so)"
        elif result.get("previous"):
            text += f" (replacing its earlier {result['previous']} vote)"
    else:
        text = "nothing to write for the task" if run.trigger == "task" else "nothing to do (HEARTBEAT_OK)"
    if task := task_of(run):
        text += f" (task “{task}”)"
    if result.get("delivered_to"):
        text += f", delivered to thread {result['delivered_to']!r}"
    if cited := run_because(run):
        text += f", {cited}"
    why = decision.get("reason") or run.reason
    because = f" — {why}" if why and why != "HEARTBEAT_OK" else ""  # not "HEARTBEAT_OK — HEARTBEAT_OK"
    return f"ok: {text}{because} ({secs})"


def run_lines(run: RunRecord) -> list[str]:
    """A run as a `history` table row, then one indented note per warning (a server that refused an
    output format, a window that was too small): the warnings explain odd rows, so they sit under them."""
    action = (run.decision or {}).get("action", "-")
    shown = shown_status(run.status, run.error_kind) or run.status  # "refused": the app's own rules, as History
    status = f"{shown} (dry)" if run.dry_run else shown
    dur = f"{(run.total_ms or 0) / 1000:.1f}s"
    row = f"{local_time(run.started_at)}  {run.thread_id:<12} {run.trigger:<8} {status:<11} {action:<7} {dur:>6}  "
    notes = (f"{'':>20}note: {terminal.one_line(note)}" for note in [*run.warnings, *schedule_notes(run)])
    return [row + terminal.one_line(run.reason), *notes]


LATE_NOTE_S = 60.0  # later than this, History says so: the run waited for a free model or the machine slept


def schedule_notes(run: RunRecord) -> list[str]:
    """What History says about a run besides its outcome: that it started late for its slot, and that the
    retention dropped its prompt and reply (so an empty prompt is explained, not a mystery)."""
    notes = []
    late = late_by(run)
    if late is not None and late > LATE_NOTE_S:
        notes.append(f"started {_duration(late)} after its {local_time(run.slot_at)} slot")
    if run.pruned_at is not None:
        notes.append(
            f"prompt and reply removed {local_time(run.pruned_at)} (keep_run_details_days); the outcome is kept"
        )
    return notes


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---------------------------------------------------------------------------- threads


def thread_status(t: ThreadSchedule) -> dict[str, Any]:
    """One thread as the scheduler sees it: the shape of `status` (the running app's part), the instance
    socket and the API's /api/heartbeat/status alike. Times are ISO text, never raw floats."""
    return {
        "id": t.thread_id,
        "title": t.title,
        "enabled": t.enabled,
        "paused": t.paused,
        "running": t.running,
        "queued": t.queued,
        "next_due": iso(t.next_due),
        "backing_off": t.backing_off,  # the next time is set by backoff after failures, not by the interval
        "last_status": t.last_status,
        "last_error_kind": t.last_error_kind,  # a refusal's kind: the app's own rules, not trouble
        "last_reason": t.last_reason,
        "last_run_at": iso(t.last_run_at),
        "consecutive_failures": t.consecutive_failures,
        "note": t.note,
    }


def scheduler_status(state: SchedulerState) -> dict[str, Any]:
    """What the scheduler publishes, in the one shape every surface answers with (see `thread_status`)."""
    return {
        "running": bool(state.started),
        "paused": bool(state.paused),
        "next_due": iso(state.next_due),
        "threads": [thread_status(t) for t in state.threads],
    }


def thread_json(thread: Thread, *, workspace: bool = False) -> dict[str, Any]:
    """A thread for scripts. The API leaves the workspace path out (a client has no use for a local
    directory); `threads list --json` shows it, in the same place it always had."""
    data: dict[str, Any] = {"id": thread.id, "title": thread.title}
    if workspace:
        data["workspace"] = str(thread.workspace) if thread.workspace else None
    data["paused"] = thread.paused
    data["last_active_at"] = iso(thread.last_active_at)
    return data


def thread_line(thread: Thread) -> str:
    """A thread as a `threads list` row: id, title, whether paused, and its workspace if it has one."""
    paused = "  [paused]" if thread.paused else ""
    return f"{thread.id:<20} {thread.title}{paused}" + (f"  ({thread.workspace})" if thread.workspace else "")


# ---------------------------------------------------------------------------- feed


def comment_json(comment: FeedComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "content": comment.content,
        "thread_id": comment.thread_id,
        "run_id": comment.run_id,
        "created_at": iso(comment.created_at),
    }


def post_json(post: FeedPost, comments: list[FeedComment] | None = None) -> dict[str, Any]:
    """A feed post. Without `comments` (the API's list) it carries their count, where a client expects it,
    and the client fetches what it opens; with them (`feed --json`, one call for a script) the comments
    themselves, last."""
    data: dict[str, Any] = {"id": post.id, "title": post.title, "content": post.content, "score": post.score}
    if comments is None:
        data["comments"] = post.comment_count
    data |= {"thread_id": post.thread_id, "run_id": post.run_id, "created_at": iso(post.created_at)}
    if comments is not None:
        data["comments"] = [comment_json(c) for c in comments]
    return data


def post_line(post: FeedPost) -> str:
    """A post as a `feed` row: id, score, title, then where it came from and how many comments it has."""
    where = f"{post.thread_id or '-'}, {local_time(post.created_at)}, {count_of(post.comment_count, 'comment')}"
    return f"#{post.id:<5} {post.score:+d}  {post.title}  [{where}]"


def note_json(note: Note) -> dict[str, Any]:
    """A thread's note, as `notes --json`, `comment --json` and the API give it (the id `--resolve` takes)."""
    return {
        "id": note.id,
        "thread_id": note.thread_id,
        "kind": note.kind,
        "text": note.text,
        "resolved": note.resolved,
        "created_at": iso(note.created_at),
    }
