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
from ..core.present import iso
from ..core.tasks import next_label, next_time
from .common import EXIT_FAIL, EXIT_OK, UsageError, emit, warn


def cmd_check(_store: None, args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else paths.data_dir()
    target = path / heartbeat_md.FILENAME if path.is_dir() else path
    if not target.is_file():
        if target.exists() or target.is_symlink():
            raise UsageError(f"not a regular file: {target}")
        raise UsageError(f"no such file: {target}")
    text, warnings = heartbeat_md.read_heartbeat_md(path)
    instructions = heartbeat_md.parse(text)
    instructions.warnings[:0] = warnings
    now = time.time()
    if args.json:
        data = instructions.to_dict()
        data["tasks"] = [{**t.to_dict(), "next": iso(next_time(t, HeartbeatConfig(), now))} for t in instructions.tasks]
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
    if instructions.tasks:
        # A thread's own time zone and active hours can move these; History shows when each ran.
        print(f"Tasks ({len(instructions.tasks)}), next times in the local time zone:")
        for task in instructions.tasks:
            print(f"  {task.when}: {task.what} — next {next_label(task, HeartbeatConfig(), now)}")
    for warning in instructions.warnings:
        warn(warning)
    print("actionable: " + ("yes" if instructions.is_actionable else "no — heartbeats will be skipped"))
    return EXIT_OK if text.strip() else EXIT_FAIL
