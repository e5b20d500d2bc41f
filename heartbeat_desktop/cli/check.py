"""`check`: parse a HEARTBEAT.md and show what the app understood, without the app or a database.

Exit 1 for an empty file: the heartbeat would skip every run, which a script setting things up should
notice; a file with only headings still parses and says "actionable: no".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .. import paths
from ..core import heartbeat_md
from ..core.citations import numbered_items
from ..core.config import HeartbeatConfig
from ..core.heartbeat_md import ITEMS_MAX
from ..core.models import Thread
from ..core.present import iso, local_time
from ..core.schedule import zone_of
from ..core.tasks import Task, next_time, outside_active_hours
from ..store import DEFAULT_THREAD, SqliteStore
from .common import EXIT_FAIL, EXIT_OK, UsageError, emit, warn

Clock = tuple[HeartbeatConfig, Path | None, str, list[str]]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:  # a loop of links: not a file any thread reads
        return False


def _readers(store: SqliteStore, given: Path | None) -> list[Thread]:
    """The threads that read the file `check` was given (core/heartbeat_md.thread_file), the default first:
    a workspace's file follows its own thread's clock, not the default thread's."""
    if given is None:
        return []
    default = paths.data_dir() / heartbeat_md.FILENAME
    readers = [t for t in store.threads.list() if _same_file(heartbeat_md.thread_file(default, t.workspace), given)]
    return sorted(readers, key=lambda t: t.id != DEFAULT_THREAD)


def _thread_config(thread_id: str | None, given: Path | None = None) -> Clock:
    """The config and workspace of the thread whose clock the tasks' times follow, how to say which, and that
    thread's config warnings (a stored value replaced by its default changes those times too): the one named,
    else the thread that reads the file given (several: the first, and the others named), else the default
    thread once a database exists, else the local time zone (`check` works before the app ever ran)."""
    if thread_id is None and not paths.db_file(paths.data_dir()).exists():
        return HeartbeatConfig(), None, "the local time zone (no thread yet)", []
    from ..wiring import open_store

    store = open_store(reading_only=True)
    try:
        readers = [] if thread_id else _readers(store, given)
        thread = readers[0] if readers else store.threads.get(thread_id or DEFAULT_THREAD)
    finally:
        store.close()
    if thread is None:
        if thread_id is None:
            return HeartbeatConfig(), None, "the local time zone (no thread yet)", []
        raise UsageError(f"no such thread: {thread_id!r} (heartbeat-desktop threads list)")
    config = thread.config
    hours = (
        f", active {config.active_hours_start}–{config.active_hours_end}"
        if config.active_hours_start is not None and config.active_hours_end is not None
        else ""
    )
    clock = f"the clock of thread {thread.id!r} ({config.timezone or 'local time'}{hours})"
    if readers:
        names = ", ".join(repr(t.id) for t in readers)
        clock += (
            ", which reads this file" if len(readers) == 1 else f"; threads {names} read this file (--thread picks)"
        )
    return config, thread.workspace, clock, [f"thread {thread.id!r}: {w}" for w in thread.config_warnings]


def _print_tasks(tasks: list[Task], config: HeartbeatConfig, clock: str, now: float) -> None:
    """Each task with its next time on the thread's clock, and a line under it when that is not the time it
    names (outside the thread's active hours: it runs when they start)."""
    if not tasks:
        return
    print(f"Tasks ({len(tasks)}), next times on {clock}:")
    for task in tasks:
        print(f"  {task.when}: {task.what} — next {local_time(next_time(task, config, now), zone_of(config))}")
        moved = outside_active_hours(task, config)
        if moved:
            print(f"    {moved}")


def cmd_check(_store: None, args: argparse.Namespace) -> int:
    given = Path(args.path) if args.path else None
    config, workspace, clock, config_warnings = _thread_config(
        args.thread, given / heartbeat_md.FILENAME if given is not None and given.is_dir() else given
    )
    path = given or workspace or paths.data_dir()
    target = path / heartbeat_md.FILENAME if path.is_dir() else path
    if not target.is_file():
        if target.exists() or target.is_symlink():
            raise UsageError(f"not a regular file: {target}")
        if args.path:
            raise UsageError(f"no such file: {target}")
        # The thread's own file is gone: its heartbeats fail (never a quiet template) until it is back.
        raise UsageError(f"no such file: {target} — {heartbeat_md.MISSING_ADVICE}")
    text, warnings = heartbeat_md.read_heartbeat_md(path)
    instructions = heartbeat_md.parse(text)
    instructions.warnings[:0] = warnings
    now = time.time()
    if args.json:
        data = instructions.to_dict()
        data["tasks"] = [
            {
                **t.to_dict(),
                "next": iso(next_time(t, config, now)),
                "outside_active_hours": outside_active_hours(t, config),
            }
            for t in instructions.tasks
        ]
        data["config_warnings"] = config_warnings
        data["clock"] = clock  # whose clock the tasks' "next" times are on
        data["numbered"] = [{"number": i.number, "kind": i.kind, "text": i.text} for i in numbered_items(instructions)]
        emit(data)
        return EXIT_OK if text.strip() else EXIT_FAIL
    print(f"Checklist ({len(instructions.checklist)}):")
    for item in instructions.checklist:
        print(f"  [{'x' if item.checked else ' '}] {item.text}")
    print(f"Rules ({len(instructions.rules)}):")
    for rule in instructions.rules:
        print(f"  if {rule.condition} → {rule.action}" if rule.condition else f"  {rule.text}")
    print(f"Proactive behaviours ({len(instructions.proactive_behaviors)}):")
    for behaviour in instructions.proactive_behaviors:
        print(f"  - {behaviour}")
    if instructions.other:
        print(f"Other instructions ({len(instructions.other)}):")
        for line in instructions.other:
            print(f"  {line}")
    items = numbered_items(instructions)
    if items:  # what "because rule 2" in a notification or History refers to
        print(f"Numbered items (an action names the one it follows as its rule; the first {ITEMS_MAX}):")
        for numbered in items:
            print(f"  {numbered.number}. ({numbered.kind}) {numbered.text}")
    _print_tasks(instructions.tasks, config, clock, now)
    for warning in [*config_warnings, *instructions.warnings]:
        warn(warning)
    tasks_run = " (its tasks still run on their clock)" if instructions.tasks else ""
    print("actionable: " + ("yes" if instructions.is_actionable else f"no — heartbeats will be skipped{tasks_run}"))
    return EXIT_OK if text.strip() else EXIT_FAIL
