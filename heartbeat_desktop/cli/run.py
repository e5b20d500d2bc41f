"""The commands about heartbeats and what they produced: `run-now`, `status`, `history`, `feed`.

While the tray app runs for the same data dir it is the one writer and knows the live schedule, so
`run-now` asks it to do the run and `status` shows its view; without it both work on the database alone.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from .. import __version__, paths
from ..core import terminal
from ..core.app_settings import DEFAULT_MODEL, AppSettings
from ..core.control import Request, Verb
from ..core.feedback import ActOnRate, act_on_text
from ..core.models import Refusal, RunRecord
from ..core.ports import StoreError
from ..core.present import (
    describe_run,
    iso,
    local_time,
    post_json,
    post_line,
    run_lines,
    run_record,
    run_summary,
    user_feedback,
)
from ..core.refusals import refused, shown_status
from ..core.runner import UnknownThread
from ..core.scheduler_state import current_reason
from ..instance_socket import run_from_dict
from ..store import SqliteStore
from ..store.feedback import act_on_summary
from ..store.runs import ThreadState
from .common import EXIT_FAIL, EXIT_OK, AppNotAnswering, UsageError, ask_running_app, emit, warn


def _run_in_running_app(store: SqliteStore, args: argparse.Namespace) -> RunRecord | None:
    """If the tray app runs for this data dir, let it do the run (one writer; its notification shows)."""
    from ..wiring import run_wait_s

    reply = ask_running_app(
        Request(Verb.RUN_NOW, thread=args.thread, dry_run=bool(args.dry_run)),
        timeout_s=run_wait_s(store),
    )
    if reply is None:
        return None
    if not reply.get("ok"):
        error = str(reply.get("error", "the running app refused the request"))
        # The thread was there a moment ago: the app's answer says whether it still is.
        raise UsageError(error) if reply.get("refused") == Refusal.NO_THREAD else StoreError(error)
    return run_from_dict(reply["run"])


@contextlib.contextmanager
def _cancelled_by_signals(cancel: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C, a `timeout`'s SIGTERM or a closed terminal's SIGHUP during a run here cancels the run, which then
    ends recorded as cancelled; the default handlers ended the process mid-run and left it "started" (later shown
    as "interrupted"). The handler runs on the main thread between the blocking socket's retries, so the call
    is cut at once."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    asked: list[int] = []

    def handler(sig: int, _frame: object) -> None:
        if asked:  # a second signal: the person insists, stop now as before
            raise KeyboardInterrupt
        asked.append(sig)
        cancel()

    try:
        previous = {sig: signal.signal(sig, handler) for sig in wanted}
    except ValueError:  # not the main thread (a test calling the command): nothing to install
        previous = {}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def cmd_run_now(store: SqliteStore, args: argparse.Namespace) -> int:
    """Exit 1 only for a failed run: "skipped", "nothing to do" and a refusal by the app's own rules (nothing
    new, a duplicate, a cap) are the heartbeat working as meant — nothing was done and nothing is wrong."""
    from ..wiring import make_runner

    store.threads.require(args.thread)
    run = _run_in_running_app(store, args)
    if run is None:
        runner = make_runner(store)
        try:
            with _cancelled_by_signals(runner.cancel):
                run = runner.run(args.thread, trigger="manual", dry_run=True if args.dry_run else None)
        except UnknownThread as exc:
            raise UsageError(f"{exc} (see: heartbeat-desktop threads list)") from None
    if args.json:
        emit(run_summary(run))
    else:
        print(describe_run(run))
        for warning in run.warnings:
            warn(warning)
    return EXIT_FAIL if run.status == "failed" and not refused(run.status, run.error_kind) else EXIT_OK


def cmd_status(store: SqliteStore, args: argparse.Namespace) -> int:
    """While the app runs, its own view (its pause, its due times, the server it uses) wins over what the
    database and this shell's environment would say."""
    from ..store.settings import PAUSED_SETTING
    from ..wiring import make_llm

    try:
        live = ask_running_app(Request(Verb.STATUS))
        silent_pid = None
    except AppNotAnswering as exc:  # it runs: say so, with what the database knows
        live, silent_pid = None, exc.pid
    app = live.get("status") if live and live.get("ok") else None
    live_threads = {t["id"]: t for t in app["threads"]} if app else {}
    threads_out: list[dict[str, Any]] = []
    for t in store.threads.list():
        config, warnings = t.config, list(t.config_warnings)
        state = store.runs.state(t.id)
        seen = live_threads.get(t.id, {})
        threads_out.append(
            {
                "id": t.id,
                "title": t.title,
                "enabled": config.enabled,
                "paused": seen.get("paused", t.paused),
                "running": seen.get("running", False),
                "every_seconds": config.every_seconds,
                "model": config.model,
                "dry_run": config.dry_run,
                "last_run_at": iso(state.last_run_at) if state else None,
                "next_due_at": _here(seen.get("next_due")) if app else (iso(state.next_due_at) if state else None),
                "last_status": seen.get("last_status", state.last_status if state else None),
                # the app's own answer has it so already; from the database, a deferral's only while it holds
                "last_reason": seen.get("last_reason", _reason(state)),
                "last_error_kind": seen.get("last_error_kind", state.last_error_kind if state else None),
                "consecutive_failures": seen.get("consecutive_failures", state.consecutive_failures if state else 0),
                "config_warnings": warnings,
            }
        )
    servers: list[dict[str, Any]] = app.get("model_servers", []) if app else _servers_in_use(store)
    info = {
        "version": __version__,
        "data_dir": str(paths.data_dir()),
        "app_running": app is not None or silent_pid is not None,
        "app_answering": app is not None,
        "app_pid": app["pid"] if app else silent_pid,
        "app_none_refcount": app.get("none_refcount") if app else None,
        "app_true_refcount": app.get("true_refcount") if app else None,
        "paused": app["paused"] if app else store.settings.get(PAUSED_SETTING) == "1",
        "ollama_host": (app or {}).get("ollama_host") or make_llm(store).host,
        "server_problem": (app or {}).get("server_problem") or make_llm(store).address_problem,
        "default_model": store.settings.get("default_model") or DEFAULT_MODEL,
        # The servers the enabled threads use; `reachable` is the running app's last check (None: not checked)
        "model_servers": servers,
        # The running app's local API: whether it holds its port (None: no app, or the API is off)
        "local_api": (app or {}).get("local_api"),
        # The share of the agent's actions the user kept (#26): this week and this month, all threads
        "act_on": act_on_summary(store.feedback),
        # Stored app settings that do not validate and are replaced by their defaults (said here, once)
        "settings_warnings": AppSettings.load(store.settings.all())[1],
        "threads": threads_out,
    }
    if args.json:
        emit(info)
        return EXIT_OK
    _print_status(info, answering=app is not None, silent_pid=silent_pid)
    return EXIT_OK


def _print_status(info: dict[str, Any], *, answering: bool, silent_pid: object) -> None:
    """`status` for people: the JSON's facts, one line each."""
    servers, threads_out = info["model_servers"], info["threads"]
    print(f"Heartbeat Desktop {info['version']} — data in {info['data_dir']}")
    running = f"running (pid {info['app_pid']})" if answering else "not running"
    if silent_pid is not None:
        running = f"running (pid {silent_pid}) but not answering on its control socket (it re-creates it within 30 s)"
    print(f"App: {running}{', paused' if info['paused'] else ''}")
    problem = f" — {info['server_problem']}" if info["server_problem"] else ""
    print(f"Default model: {info['default_model']}{problem}")
    for warning in info["settings_warnings"]:
        print(f"Setting warning: {warning}")
    for server in servers:
        checked = server.get("checked_at")
        answered = f"answered when the app last checked ({_readable(checked)})" if checked else "answered"
        when = f" (the app last checked at {_readable(checked)})" if checked else ""  # it checks again on its own
        down = f"NOT reachable: {server['message']}{when}"
        said = {True: answered, False: down, None: "not checked (app not running)"}
        label = "Ollama" if server["provider"] == "ollama" else server["provider"]
        print(f"Model server: {label} at {server['url']} — {said[server['reachable']]}")
    kept = info["act_on"]
    print(f"{act_on_text(ActOnRate(**_counts(kept['week'])), ActOnRate(**_counts(kept['month'])))} (your word)")
    api = info["local_api"]
    if isinstance(api, dict) and api.get("enabled"):
        listening = f"listening at {api['url']}" if api.get("listening") else f"NOT listening: {api.get('error')}"
        print(f"Local API: {listening}")
    for row in threads_out:
        how = "disabled" if not row["enabled"] else "paused" if row["paused"] else f"every {row['every_seconds']} s"
        # The same local format as `history` (the JSON keeps ISO 8601 with its offset, for programs).
        shown = shown_status(row["last_status"], row["last_error_kind"])  # a refusal is not a failure to fix
        last = f"last {shown} at {_readable(row['last_run_at'])}" if row["last_status"] else "never ran"
        due = f", next {_readable(row['next_due_at'])}" if row["next_due_at"] else ""
        reason = f" — {terminal.one_line(row['last_reason'])}" if row["last_reason"] else ""
        print(f"  {row['id']:<20} {how:<16} {last}{due}{reason}")
        for warning in row["config_warnings"]:
            print(f"  {'':<20} config warning: {warning}")


def _reason(state: ThreadState | None) -> str | None:
    if state is None:
        return None
    return current_reason(state.last_status, state.last_reason, state.defer_until, time.time())


def _counts(rate: dict[str, Any]) -> dict[str, int]:
    return {key: int(rate[key]) for key in ("kept", "rejected", "pending")}


def cmd_history(store: SqliteStore, args: argparse.Namespace) -> int:
    """Newest first; a named thread must exist (a typo is a usage error, not an empty history)."""
    if args.thread:
        store.threads.require(args.thread)
    runs = store.runs.history(args.thread, limit=args.limit, status=args.status)
    if args.json:
        events, now = store.feedback.for_runs([r.id for r in runs]), store.clock()
        emit([run_record(r, user_feedback(r, events[r.id], now)) for r in runs])
        return EXIT_OK
    if not runs:
        print(_no_runs(args.thread, args.status))
    for r in runs:
        print("\n".join(run_lines(r)))
    return EXIT_OK


def _no_runs(thread: str | None, status: str | None) -> str:
    """What an empty history means: "no runs yet" only without filters; with them, none of that kind ("no
    failed runs of thread work"), for the runs there are may all be of another status or thread."""
    kind = f"{status} runs" if status else "runs"
    where = f" of thread {thread}" if thread else ""
    return f"no {kind}{where}" if status else f"no runs{where} yet"


def cmd_feed(store: SqliteStore, args: argparse.Namespace) -> int:
    """The JSON carries each post's comments, so a script needs one call for the whole feed."""
    posts = store.feed.posts(limit=args.limit)
    if args.json:
        emit([post_json(p, store.feed.comments(p.id)) for p in posts])
        return EXIT_OK
    if not posts:
        print("the feed is empty")
    for p in posts:
        print(post_line(p))
    return EXIT_OK


def _servers_in_use(store: SqliteStore) -> list[dict[str, Any]]:
    """What `status` says about the model servers without the app: which ones the threads use, unchecked."""
    from ..core.providers import health_targets
    from ..llm.hosts import resolve_host

    default = store.settings.app().default_model
    models = [t.config.model or default for t in store.threads.list() if t.config.enabled]
    host = resolve_host(store.settings.app().ollama_host)
    targets = health_targets(models, store.providers.list(), host, store.providers.removed())
    return [
        {"provider": t.provider, "kind": t.kind, "url": t.url, "reachable": None, "message": "", "checked_at": None}
        for t in targets
    ]


def _here(when: str | None) -> str | None:
    """An ISO 8601 time the running app sent, in this command's local time: the app keeps the zone it was
    started in (autostart, another shell), and `status --json` gave its `next_due_at` in that zone beside a
    `last_run_at` in this one's. Every time in --json is local, with its offset, as in history --json."""
    return datetime.fromisoformat(when).astimezone().isoformat(timespec="seconds") if when else None


def _readable(when: str | None) -> str:
    """An ISO 8601 time from a status row, for a person: the local format `history` uses."""
    return local_time(datetime.fromisoformat(when).timestamp()) if when else "-"
