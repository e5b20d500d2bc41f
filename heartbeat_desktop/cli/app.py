"""The commands that start, steer or stop the tray app: no command at all, `open WINDOW`, `close WINDOW`, `pause`,
`resume`, `unload-models`, `quit` (each one of `core.control`'s verbs).

Qt is imported only here and only to start the app: asking a running app to show a window, close one or
quit goes through the plain-socket client (`instance_socket`), so those run fast and without Qt too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import paths
from ..core.control import Request, Verb
from ..instance_socket import show_running_app
from .common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, ask_running_app, error

if TYPE_CHECKING:
    from ..store import SqliteStore

QUIT_ANSWER_S = 10.0  # the app answers a quit on its GUI thread's next turn; one busy a moment is waited for


def no_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """On Linux and the BSDs a window needs an X or Wayland session; without one Qt aborts the process
    (exit 134) with a misleading message about xcb-cursor0. QT_QPA_PLATFORM (offscreen, vnc…) is an
    explicit choice and is respected."""
    if platform in ("win32", "darwin") or environ.get("QT_QPA_PLATFORM"):
        return False
    return not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def start_tray(open_window: str | None = None) -> int:
    """Run the tray app until it quits. If one already runs for this data dir, it is shown (with the
    window asked for) and this process exits, without loading Qt."""
    try:
        data = paths.data_dir()
    except OSError as exc:  # another user's folder (paths.UnsafeDirectory), or one that cannot be made
        return error(str(exc), EXIT_FAIL)
    try:
        if show_running_app(data, open_window):
            return EXIT_OK
    except OSError as exc:
        # Something is listening but did not answer properly (a running app out of file descriptors, or a
        # socket that is not ours): starting a second copy on the same data would be worse.
        return error(f"another Heartbeat Desktop seems to be running but did not answer: {exc}", EXIT_FAIL)
    if no_display():
        what = f"the {open_window} window" if open_window else "the tray app"
        return error(
            f"no graphical session found (neither DISPLAY nor WAYLAND_DISPLAY is set), so {what} cannot open; "
            "the command line works without one: heartbeat-desktop --help",
            EXIT_USAGE,
        )
    try:
        from ..qt.launch import run_tray
    except ImportError as exc:
        return error(f"cannot start the tray app: {exc} (the commands in --help still work)", EXIT_FAIL)
    return int(run_tray(open_window=open_window))


def cmd_open(_store: None, args: argparse.Namespace) -> int:
    """In the running app if there is one (it shows the window and we exit); else the app is started in the
    background and this returns once it has opened the window (cli/background.py): a script's `open` must
    not become the app and never return."""
    from ..instance_lock import holder
    from .background import start_and_open
    from .common import AppNotAnswering

    try:
        data = paths.data_dir()
    except OSError as exc:
        return error(str(exc), EXIT_FAIL)
    try:
        if show_running_app(data, args.window, on_stdout=True):  # success: stdout, as `close` says its own
            return EXIT_OK
    except OSError as exc:
        return error(f"another Heartbeat Desktop seems to be running but did not answer: {exc}", EXIT_FAIL)
    running = holder(data)
    if running is not None:  # the lock is held: starting another would only show this one, or fail
        raise AppNotAnswering(running.get("pid", "?"))
    if no_display():
        return error(
            f"no graphical session found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the {args.window} window "
            "cannot open; the command line works without one: heartbeat-desktop --help",
            EXIT_USAGE,
        )
    return start_and_open(data, args.window)


def cmd_close(_store: None, args: argparse.Namespace) -> int:
    """Close a window of the running app (scripts, and the memory benchmark's window tour)."""
    reply = ask_running_app(Request(Verb.CLOSE, window=args.window))
    if reply is None:
        print("Heartbeat Desktop is not running")
    elif reply.get("closed"):
        print(f"closed {args.window}")
    else:
        print(f"{args.window} was not open")
    return EXIT_OK


def cmd_quit(_store: None, args: argparse.Namespace) -> int:
    """Ask the running app (for this data dir) to quit cleanly; no app running is not an error. The app answers
    once it has decided: a window with unsaved work (the HEARTBEAT.md editor) keeps it running, and this says
    so and exits 1 (it used to print "asked … to quit" while the app stayed, its editor asking to save)."""
    discard = bool(args.discard)
    # AppNotAnswering: the lock says it runs, its socket is being re-made
    reply = ask_running_app(Request(Verb.QUIT, discard=discard), timeout_s=QUIT_ANSWER_S)
    if reply is None:
        print("Heartbeat Desktop is not running")
        return EXIT_OK
    if reply.get("unsaved"):
        return error(
            f"The app did not quit: {reply.get('error')} — save or discard them, or run `heartbeat-desktop quit "
            "--discard`",
            EXIT_FAIL,
        )
    if not reply.get("ok"):
        return error(str(reply.get("error", "the running app refused to quit")), EXIT_FAIL)
    dropped = " (its unsaved editor text dropped)" if discard else ""
    print(f"Heartbeat Desktop (pid {reply.get('pid')}) is quitting{dropped}")
    return EXIT_OK


def cmd_pause(store: SqliteStore, args: argparse.Namespace) -> int:
    """Every scheduled heartbeat, app-wide (`threads pause` is one thread). Without a running app the flag is
    stored, and the app starts paused; run-now still works either way."""
    from ..store.settings import PAUSED_SETTING

    word = "paused" if args.paused else "resumed"
    already = "heartbeats already paused" if args.paused else "heartbeats already running"  # nothing changed
    reply = ask_running_app(Request(Verb.PAUSE if args.paused else Verb.RESUME))
    if reply is None:
        was = store.settings.get(PAUSED_SETTING) == "1"
        store.settings.set(PAUSED_SETTING, "1" if args.paused else "0")
        said = already if was == args.paused else f"heartbeats {word}"
        print(f"{said} (Heartbeat Desktop is not running: this holds when it starts)")
    elif not reply.get("ok"):
        return error(str(reply.get("error", "the running app refused")), EXIT_FAIL)
    else:
        print(already if reply.get("already") else f"heartbeats {word}")
    return EXIT_OK


def cmd_unload_models(_store: None, args: argparse.Namespace) -> int:
    """Free what the model servers the threads use hold, now. The running app does it when there is one (its
    notification says what was freed); otherwise this process does, and says per server what happened: each
    Ollama unloads, any other server is said to keep its model (llm/unload.py). Exit 1 when an Ollama in use
    could not be asked."""
    reply = ask_running_app(Request(Verb.UNLOAD_MODELS))
    if reply is not None:
        if not reply.get("ok"):
            return error(str(reply.get("error", "the running app refused")), EXIT_FAIL)
        print("asked Heartbeat Desktop to unload the models; its notification says what was freed")
        return EXIT_OK
    from ..core.terminal import one_line
    from ..wiring import unload_in_use

    results = unload_in_use(paths.data_dir())
    if not results:
        print("no thread uses a model server: nothing to unload")
    for result in results:
        if result.failed:
            error(one_line(result.line), EXIT_FAIL)
        else:
            print(one_line(result.line))
    return EXIT_FAIL if any(r.failed for r in results) else EXIT_OK
