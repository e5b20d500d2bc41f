"""What every command shares: exit codes, the usage error, printing JSON and errors, and the line to the
running app. A module of its own so the command modules need nothing from the package's `__init__`."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from .. import logging_setup, paths
from ..core import terminal
from ..core.control import Request
from ..instance_socket import request, server_name

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_SIGPIPE = 141  # what a shell reports for a command whose reader went away (128 + SIGPIPE)

# A command: the open store (None for the ones set up with needs_store=False) and the parsed arguments in,
# the exit code out.
Command = Callable[[Any, argparse.Namespace], int]


class InertStream:
    """A terminal stream that escapes the controls of whatever is written (core/terminal.py): the one place
    every printer of the command line goes through, whatever text it prints."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal.block(text))

    def __getattr__(self, name: str) -> Any:  # flush, fileno, buffer, isatty…: the stream's own
        return getattr(self._stream, name)


@contextmanager
def inert_output() -> Iterator[None]:
    """stdout and stderr made inert for the duration of a command, then put back as they were."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = InertStream(sys.stdout), InertStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


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


class AppNotAnswering(ConnectionError):
    """The lock says an app runs for this data dir, but nothing answers on its control socket (its folder
    was removed and the app re-creates the socket within 30 s, or the app is stuck). Never "not running":
    the command would then do, beside the app, what only the app may do (a run-now as a second writer)."""

    def __init__(self, pid: object) -> None:
        self.pid = pid
        super().__init__(
            f"Heartbeat Desktop (pid {pid}) is running but its control socket did not answer; it re-creates "
            "the socket within 30 s: try again then"
        )


def ask_running_app(message: Request, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The running app's answer, or None when no app runs for this data dir (raises AppNotAnswering when
    one runs but cannot be reached). Plain sockets, no Qt: these commands must stay quick, and work in a
    process that cannot load Qt's libraries."""
    data_dir = paths.data_dir()
    reply = request(server_name(data_dir), message.to_message(), timeout_s=timeout_s)
    if reply is None:
        from ..instance_lock import holder

        running = holder(data_dir)
        if running is not None:
            raise AppNotAnswering(running.get("pid", "?"))
    return reply


def tell_running_app(message: Request) -> bool:
    """Whether an app was there to hear it: the caller says "applied now" or "applied at next start"."""
    try:
        return ask_running_app(message) is not None
    except AppNotAnswering as exc:
        warn(f"the change is saved, but the running app (pid {exc.pid}) did not answer: it applies the change "
             "when it next starts or reloads")  # fmt: skip
        return False
