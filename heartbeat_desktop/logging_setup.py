"""Logging: every line starts with `[HEARTBEAT]`, level from `LOG_LEVEL`, a rotating file in the log dir.

The console (stderr): the tray app shows its warnings and errors there. A command of the command line
prints its own answer, once, and leaves the log's records to the log file (a failed run was said twice,
and `status` printed a stored setting's warning between its lines), unless the user asks for them with
LOG_LEVEL, or there is no log file to keep them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

from .core import terminal

FORMAT = "[HEARTBEAT] %(asctime)s %(levelname)s %(name)s: %(message)s"


class InertFormatter(logging.Formatter):
    """Every record on one line of inert text (core/terminal.py): a model's words in a message can neither
    drive the terminal that tails the log nor forge the next record. A traceback keeps its lines, escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal.one_line(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return terminal.block(super().formatException(ei))


CONSOLE_FORMAT = "[HEARTBEAT] %(levelname)s: %(message)s"
LOG_FILE = "heartbeat.log"


def level_from_env() -> int:
    name = os.environ.get("LOG_LEVEL", "INFO").upper()
    return logging.getLevelNamesMapping().get(name, logging.INFO)


def debug_enabled() -> bool:
    return level_from_env() <= logging.DEBUG


def setup(log_dir: Path | None, *, console: bool = True, command: bool = False) -> logging.Logger:
    """Configure the `heartbeat_desktop` logger tree. Idempotent: old handlers are replaced. `command`: a
    command of the command line, whose console gets records only when LOG_LEVEL asks (see above)."""
    level = level_from_env()
    root = logging.getLogger("heartbeat_desktop")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    if log_dir is not None:
        try:
            file_handler = logging.handlers.RotatingFileHandler(
                log_dir / LOG_FILE, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
            )
        except OSError as exc:
            print(f"[HEARTBEAT] WARNING: cannot write log file in {log_dir}: {exc.strerror or exc}", file=sys.stderr)
        else:
            file_handler.setFormatter(InertFormatter(FORMAT))
            file_handler.setLevel(level)
            root.addHandler(file_handler)
    explicit = "LOG_LEVEL" in os.environ
    if console and (explicit or not command or not root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(InertFormatter(CONSOLE_FORMAT))
        # A record the command's own answer already says (a failed run) would be printed twice.
        stream.addFilter(lambda record: not getattr(record, "answered", False))
        stream.setLevel(level if explicit else logging.WARNING)
        root.addHandler(stream)
    return root
