"""`check`: parse a HEARTBEAT.md and show what the app understood, without the app or a database.

Exit 1 for an empty file: the heartbeat would skip every run, which a script setting things up should
notice; a file with only headings still parses and says "actionable: no".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import paths
from ..core import heartbeat_md
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
    if args.json:
        emit(instructions.to_dict())
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
    for warning in instructions.warnings:
        warn(warning)
    print("actionable: " + ("yes" if instructions.is_actionable else "no — heartbeats will be skipped"))
    return EXIT_OK if text.strip() else EXIT_FAIL
