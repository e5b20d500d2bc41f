"""`threads list|add|rename|remove|pause|resume`, and what a thread is told: `message`, `note`, and `comment`
(the user's answer to a post, which offers to resolve the note the post was raised from).

`rename` changes a thread's title, never its id: the id names the thread in every run, message, note and
post, in `--thread`, in the local API's URLs and in scripts, so it stays what it was created as.

A missing thread propagates as NoSuchThread (exit 2, "see: threads list"); any other refusal of the
store (a duplicate id, the default thread, text too long) is the user's to fix, so it is a usage error.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import paths
from ..core.ports import PostNotFound, StoreError
from ..core.present import note_json, thread_json, thread_line
from ..core.terminal import one_line
from ..store import SqliteStore
from ..store.threads import NoSuchThread, validate_slug
from .common import EXIT_OK, UsageError, emit, warn


def cmd_threads_list(store: SqliteStore, args: argparse.Namespace) -> int:
    threads = store.threads.list()
    if args.json:
        emit([thread_json(t, workspace=True) for t in threads])
    else:
        for t in threads:
            print(thread_line(t))
    return EXIT_OK


def cmd_threads_add(store: SqliteStore, args: argparse.Namespace) -> int:
    """The workspace must exist now (a typo would otherwise give a thread that never finds its file); it
    gets a starter HEARTBEAT.md if it has none."""
    try:
        validate_slug(args.id)  # a bad id is said first, before anything else is looked at or asked for
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    workspace = Path(args.workspace).expanduser().resolve() if args.workspace else None
    if workspace is not None and not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    md = workspace / "HEARTBEAT.md" if workspace is not None else None
    if md is not None and md.exists() and not md.is_file():  # the thread could never read it
        raise UsageError(
            f"{md} is a folder, not a file: move it aside (or choose another workspace), then add the thread"
        )
    try:
        store.threads.create(args.id, args.title, workspace)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if workspace is not None:
        paths.ensure_heartbeat_md(workspace)
    print(f"added thread {args.id}")
    if md is not None and md.is_symlink() and not md.exists():
        warn(f"{md} is a link to {os.readlink(md)}, which does not exist: nothing was written through it; create "
             "that file (or replace the link) before the thread's first heartbeat")  # fmt: skip
    return EXIT_OK


def cmd_threads_rename(store: SqliteStore, args: argparse.Namespace) -> int:
    """A new title; the id stays (see the module's docstring)."""
    title = " ".join(args.title)
    try:
        store.threads.rename(args.id, title)
    except NoSuchThread:
        raise
    except StoreError as exc:  # an empty or too long title
        raise UsageError(str(exc)) from None
    print(f"thread {args.id} is now titled {store.threads.require(args.id).title!r} (its id stays {args.id})")
    return EXIT_OK


def cmd_threads_remove(store: SqliteStore, args: argparse.Namespace) -> int:
    try:
        store.threads.remove(args.id)
    except NoSuchThread:
        raise
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"removed thread {args.id} (its messages and notes; its posts stay in the feed)")
    return EXIT_OK


def cmd_threads_pause(store: SqliteStore, args: argparse.Namespace) -> int:
    """`pause` and `resume` both land here; the parser sets `paused` for each."""
    store.threads.set_paused(args.id, args.paused)
    print(f"heartbeats of thread {args.id} {'paused' if args.paused else 'resumed'}")
    return EXIT_OK


def cmd_message(store: SqliteStore, args: argparse.Namespace) -> int:
    text = " ".join(args.text)
    try:
        message_id = store.threads.add_message(args.thread, text, role=args.role)
    except NoSuchThread:
        raise
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"message #{message_id} added to {args.thread}")
    return EXIT_OK


def cmd_note(store: SqliteStore, args: argparse.Namespace) -> int:
    """Add a note, or resolve / reopen one (`--resolve ID`, `--reopen ID`): an open contradiction stays in
    every heartbeat's context until it is resolved."""
    if args.resolve is not None or args.reopen is not None:
        if args.text or (args.resolve is not None and args.reopen is not None):
            raise UsageError("give a note's text to add it, or --resolve ID or --reopen ID, one of them")
        resolved = args.resolve is not None
        note_id = args.resolve if resolved else args.reopen
        before = store.threads.note(store.threads.require(args.thread).id, note_id)
        if before is not None and before.resolved == resolved:
            print(f"{before.kind} note #{note_id} of {args.thread} is already {'resolved' if resolved else 'open'}")
            return EXIT_OK
        try:
            note = store.threads.set_note_resolved(args.thread, note_id, resolved)
        except NoSuchThread:
            raise
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        print(f"{note.kind} note #{note.id} of {args.thread} {'resolved' if resolved else 'reopened'}")
        return EXIT_OK
    if not args.text:
        raise UsageError("give the note's text (or --resolve ID / --reopen ID)")
    text = " ".join(args.text)
    try:
        note_id = store.threads.add_note(args.thread, text, kind=args.kind)
    except NoSuchThread:
        raise
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"{args.kind} note #{note_id} added to {args.thread}")
    return EXIT_OK


def cmd_comment(store: SqliteStore, args: argparse.Namespace) -> int:
    """The user's comment on a post. A post the agent raised from an open contradiction note (its run cited
    it) is answered by this comment, so the output says which note and how to close it; `--resolve` closes it
    at once. Nothing is resolved without being asked (#27 item 3)."""
    try:
        answer = store.answers.comment(args.post, " ".join(args.text))
    except PostNotFound as exc:
        raise UsageError(f"{exc} (heartbeat-desktop feed)") from None
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    resolved = [store.threads.set_note_resolved(n.thread_id, n.id) for n in answer.open_notes] if args.resolve else []
    if args.json:
        emit(
            {
                "comment_id": answer.comment_id,
                "post_id": answer.post_id,
                "open_notes": [note_json(n) for n in answer.open_notes if not resolved],
                "resolved_notes": [note_json(n) for n in resolved],
            }
        )
        return EXIT_OK
    print(f"comment #{answer.comment_id} added to post #{answer.post_id}")
    if args.resolve and not answer.open_notes:
        print(f"no open note was raised by post #{answer.post_id}; nothing resolved")
    for note in resolved:
        print(f"resolved {note.kind} note #{note.id} of {note.thread_id}: {one_line(note.text)}")
    for note in answer.open_notes if not resolved else ():
        print(
            f"post #{answer.post_id} was raised from open {note.kind} note #{note.id} of {note.thread_id}: "
            f"{one_line(note.text)}\n  if this answers it: heartbeat-desktop note --thread {note.thread_id} "
            f"--resolve {note.id}"
        )
    return EXIT_OK


def cmd_notes(store: SqliteStore, args: argparse.Namespace) -> int:
    """A thread's notes with their numbers (what `note --resolve ID` takes): open ones, or with `--all` the
    resolved ones too."""
    store.threads.require(args.thread)
    notes = store.threads.notes(args.thread, args.limit, include_resolved=args.all)
    if args.json:
        emit([note_json(n) for n in notes])
        return EXIT_OK
    for note in notes:
        state = "resolved" if note.resolved else "open"
        print(f"#{note.id:<6} {note.kind:<13} {state:<8} {one_line(note.text)}")
    if not notes:
        print(f"thread {args.thread} has no {'' if args.all else 'open '}notes")
    return EXIT_OK
