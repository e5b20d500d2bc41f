"""What every command shares: exit codes, the usage error, printing JSON and errors, and the line to the
running app. A module of its own so the command modules need nothing from the package's `__init__`."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

from .. import logging_setup, paths
from ..instance_socket import request, server_name

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# A command: the open store (None for the ones set up with needs_store=False) and the parsed arguments in,
# the exit code out.
Command = Callable[[Any, argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or an unknown name: one line on stderr and exit code 2."""


def emit(data: Any) -> None:
    """JSON for scripts: indented for a person who pipes it to a pager, non-ASCII left readable."""
    print(json.dumps(data, ensure_ascii=False, indent=2))


def warn(message: str) -> None:
    """A warning goes to stderr, so `--json` output on stdout stays parseable."""
    print(f"warning: {message}", file=sys.stderr)


def error(message: str, code: int) -> int:
    """One line on stderr, the traceback only with LOG_LEVEL=DEBUG; returns the exit code to pass on."""
    if logging_setup.debug_enabled():
        traceback.print_exc()
    print(f"heartbeat-desktop: error: {message}", file=sys.stderr)
    return code


def ask_running_app(message: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The running app's answer, or None when no app runs for this data dir. Plain sockets, no Qt: these
    commands must stay quick, and work in a process that cannot load Qt's libraries."""
    return request(server_name(paths.data_dir()), message, timeout_s=timeout_s)


def tell_running_app(message: dict[str, Any]) -> bool:
    """Whether an app was there to hear it: the caller says "applied now" or "applied at next start"."""
    return ask_running_app(message) is not None
