"""`open WINDOW` when no app runs: start the tray app in the background and return once it answers.

`open` used to become the app itself, so a script's `heartbeat-desktop open settings` (or `$(…)`) never
returned. Now the app is started as a process of its own — detached from this terminal (its own session,
stdin from /dev/null, its output appended to `app-output.log` in the log directory, so no pipe of the
caller stays open) — and this command waits, a bounded time, for it to answer on its instance socket,
asks it to open the window, and returns. If the app exits first, or does not answer in time, the command
says so with the last line the app wrote, and fails.

Plain processes and sockets, no Qt: the command line never loads Qt (the app it starts does).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .. import paths
from ..autostart import app_command
from ..core.control import Request, Verb
from ..instance_socket import request, server_name
from .common import EXIT_FAIL, EXIT_OK, error

START_WAIT_S = 30.0  # Qt, the database and the tray on a slow, busy machine; a normal start takes 1–3 s
POLL_S = 0.2
OUTPUT_LOG = "app-output.log"


def _output_file() -> Path:
    """Where the started app's own output goes: the log directory (the data dir's when that is unusable)."""
    try:
        return paths.log_dir() / OUTPUT_LOG
    except OSError:
        return paths.data_dir() / OUTPUT_LOG


def _spawn(output: Path) -> subprocess.Popen[bytes]:
    """The app, detached: a Ctrl-C or a closed terminal here does not reach it, and it holds none of this
    process's pipes (a caller reading our output sees its end when we exit)."""
    detach: dict[str, object] = {"start_new_session": True}
    if sys.platform == "win32":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined,unused-ignore]
        detach = {"creationflags": flags}
    with open(output, "ab") as out:
        return subprocess.Popen(
            app_command(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,
            cwd=Path.home(),
            **detach,  # type: ignore[call-overload]
        )


def _last_line(output: Path, since: int) -> str:
    """The last line the app wrote (after `since` bytes: what earlier starts wrote is not this start's)."""
    try:
        with open(output, "rb") as fh:
            fh.seek(since)
            lines = fh.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_and_open(data_dir: Path, window: str, wait_s: float = START_WAIT_S) -> int:
    """Start the app for `data_dir`, wait until it answers, have it open `window`. Exit code out."""
    output = _output_file()
    since = output.stat().st_size if output.exists() else 0
    try:
        app = _spawn(output)
    except OSError as exc:
        return error(f"cannot start Heartbeat Desktop: {exc}", EXIT_FAIL)
    message = Request(Verb.OPEN, window=window).to_message()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            reply = request(server_name(data_dir), message, timeout_s=5.0)
        except OSError:
            reply = None  # a socket that is being set up; asked again
        if reply is not None:
            print(f"started Heartbeat Desktop (pid {app.pid}) and opened {window}")
            return EXIT_OK
        code = app.poll()
        if code not in (None, 0):  # 0: another app got the lock first and was shown; it answers next
            said = _last_line(output, since)
            how = f"status {code}" if code > 0 else f"killed by signal {-code}"
            return error(
                f"Heartbeat Desktop exited at start ({how}){': ' + said if said else ''} (all of its output: {output})",
                EXIT_FAIL,
            )
        time.sleep(POLL_S)
    said = _last_line(output, since)
    return error(
        f"Heartbeat Desktop (pid {app.pid}) was started but did not answer within {wait_s:g} s"
        f"{' (it said: ' + said + ')' if said else ''}; it may still be starting, or waiting on a message "
        f"window. Its output: {output}",
        EXIT_FAIL,
    )
