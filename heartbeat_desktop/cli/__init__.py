"""The `heartbeat-desktop` command: the tray app with no arguments, scripting subcommands otherwise.

Exit codes: 0 success (a run that ended ok or skipped, or that the app's own rules refused: nothing done,
nothing wrong), 1 failure (a failed run, an unreachable server, a database error), 2 usage (bad arguments,
unknown thread, out-of-range value). Errors are one line on stderr; the traceback only with LOG_LEVEL=DEBUG.

The package: `parser` is the grammar, one module per command group does the work (`run`, `config`,
`check`, `threads`, `provider`, `api`, `app`; `background` starts the app for `open`), `common` holds what
they share, and the text and JSON of runs, threads and posts come from `core.present` (shared with the local
API). `main` here opens the store each command needs and turns exceptions into exit codes, so no command
has to; it also sends the answer before returning, so a reader that went away (`| head`) ends the command
quietly with 141, whichever command it was.

No arguments means the tray app, and that path imports nothing of the command line: not the grammar, not
the commands, not the store (issue #17: launch to tray within 400 ms). Everything else is imported when a
command runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from .. import logging_setup, paths
from .app import no_display, start_tray
from .common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_SIGPIPE,
    EXIT_USAGE,
    UsageError,
    error,
    inert_output,
    tell_running_app,
)

if TYPE_CHECKING:
    from ..core.present import describe_run
    from ..store import SqliteStore
    from .parser import build_parser

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "describe_run",
    "main",
    "no_display",
    "start_tray",
]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """`build_parser` and `describe_run` stay importable from here, loaded on first use."""
    if name == "build_parser":
        from .parser import build_parser

        return build_parser
    if name == "describe_run":
        from ..core.present import describe_run

        return describe_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _setup_logging(*, command: bool = False) -> None:
    try:
        log_directory = paths.log_dir()
    except paths.NotAFolder as exc:
        if "HEARTBEAT_DATA_DIR" not in str(exc):  # else the command (or the tray's start) says it, once
            print(f"heartbeat-desktop: no log folder: {exc}", file=sys.stderr)
        log_directory = None
    except OSError as exc:
        print(f"heartbeat-desktop: cannot create log directory: {exc}", file=sys.stderr)
        log_directory = None
    logging_setup.setup(log_directory, command=command)


def main(argv: list[str] | None = None) -> int:
    os.umask(paths.PRIVATE_UMASK)  # everything the app writes is the user's alone (see paths.py)
    paths.settle_data_dir_env()  # a relative folder means the same one to the app started in the background
    try:
        with inert_output():  # a model's or a server's text never drives the terminal (core/terminal.py)
            try:
                return _main(argv)
            finally:  # also after --help or a usage error (SystemExit): their text is buffered too
                _flush_answer()
    except BrokenPipeError:
        return _reader_gone()


def _flush_answer() -> None:
    """Send what is still buffered now, while a closed reader can be caught here: at the interpreter's exit
    the same failure prints "Exception ignored … Broken pipe" and ends with status 120."""
    if sys.stdout is not None:
        sys.stdout.flush()


def _reader_gone() -> int:
    """`status | head -1`: the reader has what it wanted. Say nothing (as cat and grep do), and keep Python
    from meeting the same closed pipe again when it flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_SIGPIPE


def _main(argv: list[str] | None) -> int:
    if not (sys.argv[1:] if argv is None else argv):  # the tray app: the fast path
        _setup_logging()
        return start_tray()
    from ..core.control import Request, Verb
    from ..core.ports import LLMError, StoreError
    from ..core.runner import UnknownThread
    from ..store.threads import NoSuchThread
    from .parser import build_parser

    args = build_parser().parse_args(argv)  # a usage error exits 2 here, before anything is opened
    _setup_logging(command=args.command is not None)
    if args.command is None:
        return start_tray()
    store: SqliteStore | None = None
    try:
        if args.needs_store:
            from ..wiring import open_store

            store = open_store(reading_only=args.read_only)
        code = int(args.func(store, args))
        if code == EXIT_OK and args.tells_app:  # the running app re-reads what changed, at once
            tell_running_app(Request(Verb.RELOAD))
        return code
    except (UsageError, NoSuchThread, UnknownThread) as exc:
        return error(str(exc), EXIT_USAGE)
    except BrokenPipeError:
        raise  # not a failure of the command: `main` ends quietly (a closed reader is an OSError too)
    except (StoreError, LLMError, OSError) as exc:
        return error(str(exc), EXIT_FAIL)
    except KeyboardInterrupt:
        return error("interrupted", 130)
    except Exception as exc:  # last resort: one line, never a bare traceback for the user
        log.exception("Unexpected error")
        return error(f"unexpected error: {type(exc).__name__}: {exc} (details in the log)", EXIT_FAIL)
    finally:
        if store is not None:
            store.close()
