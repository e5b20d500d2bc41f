"""`feedback list|add`: what the user said about the agent's actions (#26). The app records Undo and the
user's votes on the agent's posts by itself; `add` is the command line's "Not useful", with a reason."""

from __future__ import annotations

import argparse

from ..core import terminal
from ..core.feedback import REASON_LABELS, reason_from_text
from ..core.ports import StoreError
from ..core.present import count_of, local_time
from ..store import SqliteStore
from .common import EXIT_OK, UsageError, emit


def find_run(store: SqliteStore, run_id: str) -> str:
    """A run by its id or the first characters of it (history --json shows them whole; 8 are plenty)."""
    run_id = run_id.strip()
    if len(run_id) < 6:
        raise UsageError("give the run's id, or at least its first 6 characters (heartbeat-desktop history --json)")
    rows = store.db.read(
        lambda c: c.execute("SELECT id FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2", (len(run_id), run_id)).fetchall()
    )
    if not rows:
        raise UsageError(f"no run {run_id!r} (see: heartbeat-desktop history --json)")
    if len(rows) > 1:
        raise UsageError(f"{run_id!r} is the start of more than one run's id: give more of it")
    return str(rows[0]["id"])


def cmd_feedback_add(store: SqliteStore, args: argparse.Namespace) -> int:
    run_id = find_run(store, args.run)
    try:
        reason = reason_from_text(args.reason) if args.reason else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        event = store.feedback.record(run_id, "not_useful", "cli", reason)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    why = f" ({REASON_LABELS[reason]})" if reason else ""
    if args.json:
        emit(event.to_dict())
    elif event.already_recorded:
        print(f"run {run_id[:8]} was already marked not useful{why}: already recorded, nothing changed")
    else:
        print(f"run {run_id[:8]} marked not useful{why}")
        if event.note:
            print(event.note)
    return EXIT_OK


def cmd_feedback_list(store: SqliteStore, args: argparse.Namespace) -> int:
    """The events, newest first, and the act-on rate of the runs they and the recent history cover."""
    if args.thread:
        store.threads.require(args.thread)
    events = store.feedback.list(args.thread, limit=args.limit)
    rate = store.feedback.act_on(args.thread)
    if args.json:
        emit({"events": [e.to_dict() for e in events], "act_on": rate.to_dict()})
        return EXIT_OK
    if not events:
        print("no feedback yet (Undo, a vote on the agent's post, or: heartbeat-desktop feedback add RUN)")
    for e in events:
        why = f" ({REASON_LABELS[e.reason]})" if e.reason else ""
        kind = e.kind.replace("_", " ")
        rule = f" — rule: {terminal.one_line(e.rule)}" if e.rule else ""  # "Don't suggest this again", as typed
        print(
            f"{local_time(e.created_at)}  {terminal.one_line(e.thread_id or '-'):<12} {e.run_id[:8]}  {kind}{why}{rule}"
        )
    share = f"{rate.rate:.0%}" if rate.rate is not None else "—"
    print(f"kept {rate.kept} of {count_of(rate.judged, 'judged action')} ({share}); {rate.pending} not yet judged")
    return EXIT_OK
