"""The command line's grammar: one argparse parser, with a nested parser for each action of the commands
that have several (`config get|set`, `threads list|add|…`, `provider …`, `api …`, `settings get|set`).

Each action owns its options and positionals, so argparse itself takes them in any order
(`config set --thread x KEY VALUE`, `config get KEY --thread x`, `threads add --title T ID`) and refuses
an unknown word or option with a usage message and exit 2.

Every leaf parser sets, besides `func`, what `main` needs to know before calling it:
- `needs_store`: whether to open the database at all (`check`, `open` and `quit` do not);
- `read_only`: the command only reads, so it still works where the data directory cannot be written;
- `tells_app`: it changes what the running app schedules or shows, which is then told to re-read
  (read-only commands do not, nor `run-now`, which the app itself carries out).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias

from .. import __version__
from ..core.decide import DECISION_MODES
from ..core.models import ADDED_ROLES, NOTE_KINDS
from ..core.refusals import SHOWN_STATUSES
from ..store import DEFAULT_THREAD
from ..window_names import WINDOWS
from .api import cmd_api
from .app import cmd_close, cmd_open, cmd_pause, cmd_quit, cmd_unload_models
from .check import cmd_check
from .common import Command
from .config import cmd_config_get, cmd_config_set, cmd_settings_get, cmd_settings_set
from .decisions import cmd_eval, cmd_replay
from .feedback import cmd_feedback_add, cmd_feedback_list
from .provider import (
    cmd_provider_add,
    cmd_provider_clear_key,
    cmd_provider_list,
    cmd_provider_models,
    cmd_provider_remove,
    cmd_provider_set_key,
    cmd_provider_test,
)
from .run import cmd_feed, cmd_history, cmd_run_now, cmd_status
from .setup import cmd_setup
from .threads import (
    cmd_comment,
    cmd_message,
    cmd_note,
    cmd_notes,
    cmd_threads_add,
    cmd_threads_list,
    cmd_threads_pause,
    cmd_threads_remove,
    cmd_threads_rename,
)

# argparse exports no public name for what add_subparsers returns, and the class is generic only in the
# type stubs (subscripting it at run time fails), so the alias is a string the checker reads.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _count(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type for a bounded whole number: `--limit 0`, `-1` or 10**20 get one clear line. An id's
    bound (2**62) is no bound a person needs to read: it is said as "1 or more"."""
    bounds = f"{low} or more" if high >= 2**31 else f"{low}–{high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, {bounds}, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {bounds}, not {value}")
        return value

    return parse


def _note_number(text: str) -> int:
    """A note's number as `notes` shows it ("#3"), as the app names it ("n3"), or bare ("3")."""
    stripped = text.strip()
    if stripped[:1] in ("#", "n", "N"):
        stripped = stripped[1:]
    return _count(1, 2**62, "a note's number (as notes shows it: 3 or #3)")(stripped if stripped else text)


def _command(
    sub: Subparsers,
    name: str,
    func: Command,
    *,
    read_only: bool = False,
    tells_app: bool = False,
    needs_store: bool = True,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A leaf parser: a command without actions, or one action of a command that has several."""
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func, read_only=read_only, tells_app=tells_app, needs_store=needs_store)
    return parser


def _actions(sub: Subparsers, name: str, help: str) -> tuple[argparse.ArgumentParser, Subparsers]:
    """A command made of actions (`config get`): the action word is required, and names its parser."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    return parser, parser.add_subparsers(dest="action", required=True)


def _name_actions(actions: Subparsers) -> None:
    """Show the action words as `get|set` in usage and in "the following arguments are required"."""
    actions.metavar = "|".join(actions.choices)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartbeat-desktop",
        description="Give your personal AI agent a heartbeat. Without a command, starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"heartbeat-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _command(sub, "run-now", cmd_run_now, help="run one heartbeat now and print the result")
    p.add_argument("--thread", default=DEFAULT_THREAD, help=f"the thread's id (default {DEFAULT_THREAD})")
    p.add_argument("--dry-run", action="store_true", help="decide, but write nothing")
    p.add_argument("--json", action="store_true", help="the run as one JSON object, for scripts")

    p = _command(sub, "status", cmd_status, read_only=True, help="threads, their last result, the Ollama host")
    p.add_argument("--json", action="store_true")

    p = _command(sub, "history", cmd_history, read_only=True, help="recent runs, newest first")
    p.add_argument("--thread")
    p.add_argument("--limit", type=_count(1, 10_000), default=20, help="how many runs, 1–10000 (default 20)")
    p.add_argument(
        "--status",
        choices=SHOWN_STATUSES,
        help="only runs with this outcome; refused: runs the app's own rules stopped (nothing new, a duplicate, "
        "a daily cap…), which failed leaves out",
    )
    p.add_argument("--json", action="store_true")

    _config_commands(sub)
    _settings_commands(sub)

    p = _command(sub, "check", cmd_check, needs_store=False, help="parse a HEARTBEAT.md and show what it found")
    p.add_argument("path", nargs="?", help="file or directory (default: the thread's workspace, else the data dir)")
    p.add_argument("--thread", help="whose time zone and active hours the tasks' next times follow (default: default)")
    p.add_argument("--json", action="store_true")

    _threads_commands(sub)

    p = _command(sub, "message", cmd_message, tells_app=True, help="add a message to a thread")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--role", choices=ADDED_ROLES, default="user")
    p.add_argument("text", nargs="+")

    p = _command(
        sub, "note", cmd_note, tells_app=True, help="add a memory or contradiction note to a thread, or resolve one"
    )
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--kind", choices=NOTE_KINDS, default="memory")
    p.add_argument("--resolve", type=_note_number, metavar="ID", help="close note ID (the agent no longer sees it)")
    p.add_argument("--reopen", type=_note_number, metavar="ID", help="open a resolved note again")
    p.add_argument("text", nargs="*")

    p = _command(sub, "notes", cmd_notes, read_only=True, help="a thread's notes with their numbers, newest first")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--all", action="store_true", help="resolved notes too")
    p.add_argument("--limit", type=_count(1, 10_000), default=100, help="how many, 1–10000 (default 100)")
    p.add_argument("--json", action="store_true")

    p = _command(sub, "comment", cmd_comment, tells_app=True, help="comment on a post in the feed (your answer)")
    post_number = _count(1, 2**62, "a post's number")
    p.add_argument("post", type=post_number, metavar="POST", help="the post's number (heartbeat-desktop feed)")
    p.add_argument("text", nargs="+")
    p.add_argument("--resolve", action="store_true", help="also resolve the open note the post was raised from")
    p.add_argument("--json", action="store_true")

    _feedback_commands(sub)
    _setup_command(sub)
    _app_commands(sub)
    _provider_commands(sub)
    _api_commands(sub)
    _decision_commands(sub)

    p = _command(sub, "feed", cmd_feed, read_only=True, help="posts in the local feed, newest first")
    p.add_argument("--limit", type=_count(1, 10_000), default=50, help="how many posts, 1–10000 (default 50)")
    p.add_argument("--json", action="store_true")
    return parser


def _setup_command(sub: Subparsers) -> None:
    what = "find the model servers on this computer, pick a model, try one dry-run heartbeat"
    p = _command(
        sub, "setup", cmd_setup, help=what,
        description=f"{what.capitalize()}. Exit 0 when a model was stored and its dry run did not fail (or --json "
        "listed), 1 when no server or model was found or the dry run failed, 2 for a choice that cannot be taken.",
    )  # fmt: skip
    p.add_argument("--server", metavar="URL", help="ask only this address (e.g. http://127.0.0.1:1234)")
    p.add_argument("--model", metavar="NAME", help="use this model of a server found, without asking")
    p.add_argument("--thread", default=DEFAULT_THREAD, help=f"the thread to dry-run (default {DEFAULT_THREAD})")
    p.add_argument("--json", action="store_true", help="alone: list what was found; with --model: what was done")


def _app_commands(sub: Subparsers) -> None:
    """The running app's verbs (core.control) that a shell asks for by name."""
    p = _command(
        sub,
        "open",
        cmd_open,
        needs_store=False,
        help="open a window of the running app (starting it in the background if needed)",
    )
    p.add_argument("window", choices=tuple(WINDOWS))
    p = _command(sub, "close", cmd_close, needs_store=False, help="close a window of the running app")
    p.add_argument("window", choices=tuple(WINDOWS))

    for word, paused, what in (
        ("pause", True, "pause every thread's scheduled heartbeats"),
        ("resume", False, "put every thread back on its schedule"),
    ):
        p = _command(sub, word, cmd_pause, help=f"{what} (kept across restarts)")
        p.set_defaults(paused=paused)
    _command(
        sub,
        "unload-models",
        cmd_unload_models,
        needs_store=False,
        help="free the memory of the model servers the threads use (Ollama unloads; others are said to keep theirs)",
    )
    p = _command(
        sub,
        "quit",
        cmd_quit,
        needs_store=False,
        help="ask the running tray app to quit (exit 1 when it stays: its HEARTBEAT.md editor has unsaved changes)",
        description="Ask the running tray app to quit, and say what it answered. While its HEARTBEAT.md editor has "
        "unsaved changes the app stays (the editor is brought forward) and this exits 1; save or discard them "
        "there, or use --discard.",
    )
    p.add_argument(
        "--discard", action="store_true", help="quit even with unsaved changes in the HEARTBEAT.md editor (dropped)"
    )


def _decision_commands(sub: Subparsers) -> None:
    """Measuring decisions: a suite of situations, or the thread's own recorded runs."""
    p = _command(
        sub,
        "eval",
        cmd_eval,
        help="score models' decisions on a suite of situations (nothing reaches the feed, threads or history)",
        description="Ask each model, in each mode, about every situation of a suite and print how many "
        "decisions were valid and right, how often it acted when nothing called for it, its speed and tokens.",
    )
    p.add_argument("--model", action="append", metavar="M", help="a model to test; repeat to compare (default: app's)")
    p.add_argument("--mode", action="append", choices=DECISION_MODES, help="repeat for both (default: both)")
    p.add_argument("--suite", metavar="FILE", help="a suite file, .toml or .json (default: the built-in suite)")
    p.add_argument("--json", action="store_true")

    p = _command(
        sub,
        "replay",
        cmd_replay,
        help="ask recorded runs again with another model or HEARTBEAT.md; show what changes (writes no run)",
    )
    p.add_argument("--thread", help="only this thread's runs (default: every thread)")
    p.add_argument("--last", type=_count(1, 500), default=10, help="how many recent runs, 1–500 (default 10)")
    p.add_argument("--model", help="ask this model instead of each run's own")
    p.add_argument("--mode", choices=DECISION_MODES, help="ask in this mode instead of each run's own")
    p.add_argument("--heartbeat-md", metavar="FILE", help="an edited HEARTBEAT.md to decide by")
    p.add_argument("--json", action="store_true")


def _config_commands(sub: Subparsers) -> None:
    group, actions = _actions(sub, "config", "get or set a thread's heartbeat config")
    # --thread may also come before the action word (`config --thread x get`), as it always could; given
    # after it, the action's own --thread wins (SUPPRESS: an action without it leaves the group's value).
    group.add_argument("--thread", default=DEFAULT_THREAD, help="the thread (default: %(default)s)")
    thread_help = f"the thread (default: {DEFAULT_THREAD})"

    p = _command(actions, "get", cmd_config_get, read_only=True, help="print one setting, or all as JSON")
    p.add_argument("--thread", default=argparse.SUPPRESS, help=thread_help)
    p.add_argument("key", nargs="?", metavar="KEY")

    p = _command(actions, "set", cmd_config_set, tells_app=True, help="set one setting")
    p.add_argument("--thread", default=argparse.SUPPRESS, help=thread_help)
    p.add_argument("key", metavar="KEY", help="e.g. every_seconds, model, active_hours")
    p.add_argument("value", metavar="VALUE", help="e.g. 900, llama3.2:1b, 22-6 or off")
    _name_actions(actions)


def _settings_commands(sub: Subparsers) -> None:
    _group, actions = _actions(sub, "settings", "get or set app-wide settings (Ollama host, default model, timeout)")
    p = _command(actions, "get", cmd_settings_get, read_only=True, help="print one setting, or all of them")
    p.add_argument("key", nargs="?", metavar="KEY")
    p = _command(actions, "set", cmd_settings_set, tells_app=True, help="set one setting")
    p.add_argument("key", metavar="KEY")
    p.add_argument("value", nargs="?", metavar="VALUE", help="empty to restore the default")
    _name_actions(actions)


def _threads_commands(sub: Subparsers) -> None:
    _group, actions = _actions(sub, "threads", "list, add, rename, remove, pause or resume threads")
    p = _command(actions, "list", cmd_threads_list, read_only=True, help="the threads, paused ones marked")
    p.add_argument("--json", action="store_true")

    p = _command(actions, "add", cmd_threads_add, tells_app=True, help="add a thread")
    p.add_argument("id", metavar="ID")
    p.add_argument("--title")
    p.add_argument("--workspace", help="directory holding this thread's HEARTBEAT.md")

    p = _command(actions, "rename", cmd_threads_rename, tells_app=True, help="give a thread a new title (its id stays)")
    p.add_argument("id", metavar="ID")
    p.add_argument("title", nargs="+", metavar="TITLE")

    p = _command(actions, "remove", cmd_threads_remove, tells_app=True, help="remove a thread")
    p.add_argument("id", metavar="ID")

    for word, paused, what in (("pause", True, "stop its heartbeats"), ("resume", False, "start them again")):
        p = _command(actions, word, cmd_threads_pause, tells_app=True, help=what)
        p.add_argument("id", metavar="ID")
        p.set_defaults(paused=paused)
    _name_actions(actions)


def _feedback_commands(sub: Subparsers) -> None:
    _group, actions = _actions(sub, "feedback", "what you said about the agent's actions, and how many you kept")
    p = _command(actions, "list", cmd_feedback_list, read_only=True, help="feedback, newest first, and the act-on rate")
    p.add_argument("--thread")
    p.add_argument("--limit", type=_count(1, 10_000), default=20, help="how many events, 1–10000 (default 20)")
    p.add_argument("--json", action="store_true")
    p = _command(actions, "add", cmd_feedback_add, tells_app=True, help="mark a run's action as not useful")
    p.add_argument("run", metavar="RUN", help="the run's id, or its first characters (history --json)")
    p.add_argument("--reason", help="not now, already knew, wrong thread or wrong")
    p.add_argument("--json", action="store_true")
    _name_actions(actions)


def _provider_commands(sub: Subparsers) -> None:
    _group, actions = _actions(sub, "provider", "model providers and their API keys (kept in the OS keyring)")
    p = _command(actions, "list", cmd_provider_list, read_only=True, help="providers and whether each has a key")
    p.add_argument("--json", action="store_true")

    p = _command(actions, "add", cmd_provider_add, tells_app=True, help="add a provider, or change its URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--kind", choices=("ollama", "openai", "anthropic"))
    p.add_argument("--url")

    p = _command(actions, "remove", cmd_provider_remove, tells_app=True, help="remove a provider and its key")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="remove it even while a thread's model names it")

    p = _command(
        actions, "set-key", cmd_provider_set_key, tells_app=True, help="store its API key (stdin or a hidden prompt)"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--store-plaintext-key-file",
        action="store_true",
        help="when no OS keyring works, keep the key in a PLAINTEXT file (0600) in the data dir instead",
    )

    p = _command(actions, "clear-key", cmd_provider_clear_key, tells_app=True, help="forget its API key")
    p.add_argument("name", metavar="NAME")

    p = _command(actions, "test", cmd_provider_test, read_only=True, help="check that its server answers; its models")
    p.add_argument("name", metavar="NAME")
    p = _command(actions, "models", cmd_provider_models, read_only=True, help="the models its server lists")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    _name_actions(actions)


def _api_commands(sub: Subparsers) -> None:
    group, actions = _actions(sub, "api", "the local control API (off by default)")
    group.set_defaults(port=None)  # only `enable` takes --port
    info = "then print what `api info --json` prints"

    p = _command(actions, "enable", cmd_api, help="turn the API on")
    p.add_argument("--port", type=int, help="listen on this port, 1024–65535 (default 8787)")
    p.add_argument("--json", action="store_true", help=info)
    p = _command(actions, "disable", cmd_api, help="turn the API off")
    p.add_argument("--json", action="store_true", help=info)
    p = _command(actions, "info", cmd_api, read_only=True, help="whether it is on, its URL and its token")
    p.add_argument("--json", action="store_true")
    p = _command(actions, "regenerate-token", cmd_api, help="make a new token; the old one stops working")
    p.add_argument("--json", action="store_true", help=info)
    _name_actions(actions)
