"""The `heartbeat-desktop` command: the tray app with no arguments, scripting subcommands otherwise.

Exit codes: 0 success (a run that ended ok or skipped), 1 failure (a failed run, an unreachable
server, a database error), 2 usage (bad arguments, unknown thread, out-of-range value). Errors are one
line on stderr; the traceback only with LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__, logging_setup, paths
from .core import heartbeat_md
from .core.config import ConfigError, HeartbeatConfig, parse_active_hours, parse_cli_value
from .core.models import NOTE_KINDS, ROLES, RUN_STATUSES, RunRecord
from .core.ports import LLMError, StoreError
from .core.runner import UnknownThread
from .store import DEFAULT_THREAD, SqliteStore
from .store.settings import KNOWN as KNOWN_SETTINGS
from .store.threads import NoSuchThread
from .window_names import WINDOWS

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or an unknown name: one line on stderr and exit code 2."""


# ---------------------------------------------------------------------------- formatting
def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def _emit(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def describe_run(run: RunRecord) -> str:
    secs = f"{(run.total_ms or 0) / 1000:.1f} s"
    if run.status != "ok":
        return f"{run.status}: {run.reason} ({secs})"
    decision = run.decision or {}
    action = decision.get("action", "none")
    result = run.action_result or {}
    prefix = "dry run, would " if run.dry_run else ""
    if action == "post":
        where = f" as post #{result['post_id']}" if "post_id" in result and not run.dry_run else ""
        text = f"{prefix}post “{decision.get('title')}”{where}"
    elif action == "comment":
        text = f"{prefix}comment on post #{decision.get('post_id')}"
    elif action == "vote":
        text = f"{prefix}vote {decision.get('direction')} on post #{decision.get('post_id')}"
        if result.get("previous") == decision.get("direction"):
            text += " (no change: this thread had already voted so)"
        elif result.get("previous"):
            text += f" (replacing its earlier {result['previous']} vote)"
    else:
        text = "nothing to do (HEARTBEAT_OK)"
    if result.get("delivered_to"):
        text += f", delivered to thread {result['delivered_to']!r}"
    why = decision.get("reason") or run.reason
    because = f" — {why}" if why and why != "HEARTBEAT_OK" else ""  # not "HEARTBEAT_OK — HEARTBEAT_OK"
    return f"ok: {text}{because} ({secs})"


# ---------------------------------------------------------------------------- commands
def _run_in_running_app(store: SqliteStore, args: argparse.Namespace) -> RunRecord | None:
    """If the tray app runs for this data dir, let it do the run (one writer; its notification shows)."""
    try:
        from .qt.services.single_instance import request, run_from_dict, server_name
    except ImportError:  # a build without Qt: run here
        return None
    from .wiring import llm_timeout

    reply = request(
        server_name(paths.data_dir()),
        {"cmd": "run-now", "thread": args.thread, "dry_run": bool(args.dry_run)},
        timeout_s=llm_timeout(store) + 30,
    )
    if reply is None:
        return None
    if not reply.get("ok"):
        error = str(reply.get("error", "the running app refused the request"))
        raise UsageError(error) if error.startswith("no thread") else StoreError(error)
    return run_from_dict(reply["run"])


def cmd_run_now(store: SqliteStore, args: argparse.Namespace) -> int:
    from .wiring import make_runner

    store.threads.require(args.thread)
    run = _run_in_running_app(store, args)
    if run is None:
        try:
            run = make_runner(store).run(args.thread, trigger="manual", dry_run=True if args.dry_run else None)
        except UnknownThread as exc:
            raise UsageError(f"{exc} (see: heartbeat-desktop threads list)") from None
    if args.json:
        _emit(run.summary())
    else:
        print(describe_run(run))
        for warning in run.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return EXIT_FAIL if run.status == "failed" else EXIT_OK


def cmd_status(store: SqliteStore, args: argparse.Namespace) -> int:
    """While the app runs, its own view (its pause, its due times, the server it uses) wins over what the
    database and this shell's environment would say."""
    from .store.settings import PAUSED_SETTING
    from .wiring import make_llm

    live = _ask_running_app({"cmd": "status"})
    app = live.get("status") if live and live.get("ok") else None
    live_threads = app["threads"] if app else {}
    threads_out: list[dict[str, Any]] = []
    for t in store.threads.list():
        config, warnings = HeartbeatConfig.load(t.config_json)
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
                "last_run_at": _iso(state.last_run_at) if state else None,
                "next_due_at": _iso(seen["next_due"]) if app else (_iso(state.next_due_at) if state else None),
                "last_status": seen.get("last_status", state.last_status if state else None),
                "last_reason": seen.get("last_reason", state.last_reason if state else None),
                "consecutive_failures": seen.get(
                    "consecutive_failures", state.consecutive_failures if state else 0
                ),
                "config_warnings": warnings,
            }
        )
    info = {
        "version": __version__,
        "data_dir": str(paths.data_dir()),
        "app_running": app is not None,
        "app_pid": app["pid"] if app else None,
        "paused": app["paused"] if app else store.settings.get(PAUSED_SETTING) == "1",
        "ollama_host": (app or {}).get("ollama_host") or make_llm(store).host,
        "server_problem": (app or {}).get("server_problem"),
        "default_model": store.settings.get("default_model") or "llama3.2",
        "threads": threads_out,
    }
    if args.json:
        _emit(info)
        return EXIT_OK
    print(f"Heartbeat Desktop {info['version']} — data in {info['data_dir']}")
    running = f"running (pid {info['app_pid']})" if app else "not running"
    print(f"App: {running}{', paused' if info['paused'] else ''}")
    problem = f" — {info['server_problem']}" if info["server_problem"] else ""
    print(f"Ollama: {info['ollama_host']} (default model {info['default_model']}){problem}")
    for row in threads_out:
        how = "disabled" if not row["enabled"] else "paused" if row["paused"] else f"every {row['every_seconds']} s"
        last = f"last {row['last_status']} at {row['last_run_at']}" if row["last_status"] else "never ran"
        due = f", next {row['next_due_at']}" if row["next_due_at"] else ""
        reason = f" — {row['last_reason']}" if row["last_reason"] else ""
        print(f"  {row['id']:<20} {how:<16} {last}{due}{reason}")
        for warning in row["config_warnings"]:
            print(f"  {'':<20} config warning: {warning}")
    return EXIT_OK


def cmd_history(store: SqliteStore, args: argparse.Namespace) -> int:
    if args.thread:
        store.threads.require(args.thread)
    runs = store.runs.history(args.thread, limit=args.limit, status=args.status)
    if args.json:
        _emit(
            [
                {
                    "id": r.id,
                    "thread_id": r.thread_id,
                    "trigger": r.trigger,
                    "status": r.status,
                    "reason": r.reason,
                    "dry_run": r.dry_run,
                    "model": r.model,
                    "prompt": r.prompt,
                    "raw_reply": r.raw_reply,
                    "decision": r.decision,
                    "action_result": r.action_result,
                    "warnings": r.warnings,
                    "llm_ms": r.llm_ms,
                    "total_ms": r.total_ms,
                    "started_at": _iso(r.started_at),
                    "finished_at": _iso(r.finished_at),
                }
                for r in runs
            ]
        )
        return EXIT_OK
    if not runs:
        print("no runs yet")
    for r in runs:
        action = (r.decision or {}).get("action", "-")
        status = f"{r.status} (dry)" if r.dry_run else r.status
        dur = f"{(r.total_ms or 0) / 1000:.1f}s"
        print(f"{_time(r.started_at)}  {r.thread_id:<12} {r.trigger:<8} {status:<11} {action:<7} {dur:>6}  {r.reason}")
        for warning in r.warnings:  # e.g. a server that refused an output format, a window that was too small
            print(f"{'':>20}note: {warning}")
    return EXIT_OK


CONFIG_USAGE = "heartbeat-desktop config get|set [--thread ID] [KEY [VALUE]]"
THREADS_USAGE = (
    "heartbeat-desktop threads list|add|remove|pause|resume [ID] [--title T] [--workspace DIR] [--json]"
)


def cmd_config(store: SqliteStore, args: argparse.Namespace) -> int:
    words = _positional_words(args, ("get", "set"), CONFIG_USAGE, 3)
    args.action, args.key, args.value = [*words, None, None][:3]
    thread = store.threads.require(args.thread)
    config, warnings = HeartbeatConfig.load(thread.config_json)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.action == "get":
        data = config.to_dict()
        if args.key:
            if args.key not in data:
                raise UsageError(f"unknown setting {args.key!r}; known: {', '.join(data)}")
            value = data[args.key]
            print(json.dumps(value) if not isinstance(value, str) else value)
        else:
            _emit(data)
        return EXIT_OK
    if args.key is None or args.value is None:
        raise UsageError("usage: heartbeat-desktop config set [--thread ID] KEY VALUE")
    try:
        if args.key == "active_hours":  # both halves at once: "22-6" (overnight), "9-17", or "off"
            updates = parse_active_hours(args.value)
        else:
            updates = {args.key: parse_cli_value(args.key, args.value)}
        updated = config.with_updates(**updates)
    except ConfigError as exc:
        hint = " (set both with: config set active_hours 22-6)" if "together" in str(exc) else ""
        raise UsageError(f"{exc}{hint}") from None
    store.threads.set_config(args.thread, updated)
    if args.key == "active_hours":
        hours = (
            f"{updated.active_hours_start}–{updated.active_hours_end}"
            if updated.active_hours_start is not None
            else "off"
        )
        print(f"{args.thread}: active hours = {hours}")
        return EXIT_OK
    key = "every_seconds" if args.key == "every" else args.key
    print(f"{args.thread}: {key} = {json.dumps(updated.to_dict()[key])}")
    return EXIT_OK


def cmd_settings(store: SqliteStore, args: argparse.Namespace) -> int:
    from .core.app_settings import AppSettings

    if args.key is not None and args.key not in KNOWN_SETTINGS:
        raise UsageError(f"unknown setting {args.key!r}; known: {', '.join(KNOWN_SETTINGS)}")
    if args.action == "get":
        stored = store.settings.all()
        effective = _effective_settings(store)
        if args.key:
            print(effective[args.key])  # the value in use, set or not
        else:
            for key, help_text in KNOWN_SETTINGS.items():
                shown = effective[key] if stored.get(key) else f"{effective[key]} (default)"
                print(f"{key:<16} {shown:<36} {help_text}")
        return EXIT_OK
    value = args.value
    if value not in (None, ""):
        try:
            value = AppSettings.check(args.key, value)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    store.settings.set(args.key, value or None)
    shown = AppSettings.shown(args.key, getattr(AppSettings.load({args.key: value})[0], args.key)) if value else ""
    print(f"{args.key} = {shown or '(default)'}")
    return EXIT_OK


def _effective_settings(store: SqliteStore) -> dict[str, str]:
    """What each app setting is in use as, stored or not (`settings get` prints these, not an empty line)."""
    from .core.app_settings import AppSettings
    from .wiring import make_llm

    settings = store.settings.app()
    values = {key: AppSettings.shown(key, getattr(settings, key)) for key in KNOWN_SETTINGS}
    values["ollama_host"] = settings.ollama_host or make_llm(store).host  # as typed, or the one in use
    return values


def cmd_check(store: SqliteStore | None, args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else paths.data_dir()
    target = path / heartbeat_md.FILENAME if path.is_dir() else path
    if not target.is_file():
        raise UsageError(f"no such file: {target}")
    text, warnings = heartbeat_md.read_heartbeat_md(path)
    instructions = heartbeat_md.parse(text)
    instructions.warnings[:0] = warnings
    if args.json:
        _emit(instructions.to_dict())
        return EXIT_OK if text else EXIT_FAIL
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
        print(f"warning: {warning}", file=sys.stderr)
    print("actionable: " + ("yes" if instructions.is_actionable else "no — heartbeats will be skipped"))
    return EXIT_OK if text else EXIT_FAIL


def cmd_threads(store: SqliteStore, args: argparse.Namespace) -> int:
    words = _positional_words(args, ("list", "add", "remove", "pause", "resume"), THREADS_USAGE, 2)
    args.action, args.id = [*words, None][:2]
    if args.action == "list":
        threads = store.threads.list()
        if args.json:
            _emit(
                [
                    {
                        "id": t.id,
                        "title": t.title,
                        "workspace": str(t.workspace) if t.workspace else None,
                        "paused": t.paused,
                        "last_active_at": _iso(t.last_active_at),
                    }
                    for t in threads
                ]
            )
        else:
            for t in threads:
                paused = "  [paused]" if t.paused else ""
                print(f"{t.id:<20} {t.title}{paused}" + (f"  ({t.workspace})" if t.workspace else ""))
        return EXIT_OK
    if not args.id:
        raise UsageError(f"usage: heartbeat-desktop threads {args.action} ID")
    if args.action in ("pause", "resume"):
        store.threads.set_paused(args.id, args.action == "pause")
        print(f"heartbeats of thread {args.id} {'paused' if args.action == 'pause' else 'resumed'}")
        return EXIT_OK
    if args.action == "add":
        workspace = Path(args.workspace).expanduser().resolve() if args.workspace else None
        if workspace is not None and not workspace.is_dir():
            raise UsageError(f"workspace {workspace} is not a directory")
        try:
            store.threads.create(args.id, args.title, workspace)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        if workspace is not None:
            paths.ensure_heartbeat_md(workspace)
        print(f"added thread {args.id}")
    else:
        try:
            store.threads.remove(args.id)
        except NoSuchThread:
            raise
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        print(f"removed thread {args.id} (its messages and notes; its posts stay in the feed)")
    return EXIT_OK


def cmd_message(store: SqliteStore, args: argparse.Namespace) -> int:
    text = " ".join(args.text)
    try:
        message_id = store.threads.add_message(args.thread, text, role=args.role)
    except NoSuchThread:
        raise
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"message #{message_id} added to {args.thread}")
    return EXIT_OK


def cmd_note(store: SqliteStore, args: argparse.Namespace) -> int:
    text = " ".join(args.text)
    try:
        note_id = store.threads.add_note(args.thread, text, kind=args.kind)
    except NoSuchThread:
        raise
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"{args.kind} note #{note_id} added to {args.thread}")
    return EXIT_OK


PROVIDER_USAGE = (
    "heartbeat-desktop provider list | add NAME --kind ollama|openai|anthropic --url URL | remove NAME | "
    "set-key NAME [--store-plaintext-key-file] | clear-key NAME | test NAME"
)


def _read_key(name: str) -> str:
    """From stdin when piped (scripts, password managers), else a hidden prompt. Never echoed."""
    if sys.stdin is not None and not sys.stdin.isatty():
        key = sys.stdin.readline().strip()
    else:
        key = getpass.getpass(f"API key for {name} (input hidden): ").strip()
    if not key:
        raise UsageError("no key given")
    return key


def cmd_provider(store: SqliteStore, args: argparse.Namespace) -> int:
    from .llm.router import OLLAMA
    from .secrets import PLAINTEXT_FILE, PlaintextSecrets, SecretsUnavailable, open_secrets
    from .wiring import key_cache, make_router, stored_keys

    words = _positional_words(args, ("list", "add", "remove", "set-key", "clear-key", "test"), PROVIDER_USAGE, 2)
    action, name = [*words, None][:2]
    data_dir = paths.data_dir()
    if action == "list":
        # Whether a key is set comes from the store: listing never opens the keyring (no unlock dialog). A
        # provider from before the app kept track is looked up once, briefly, and remembered.
        keys = stored_keys(store, key_cache(data_dir))
        rows = [(OLLAMA, "ollama", make_router(store, data_dir).host, False)] + [
            (p.name, p.kind, p.base_url, p.builtin) for p in store.providers.list()
        ]
        listing: list[dict[str, Any]] = []
        in_file = PlaintextSecrets(data_dir).names()
        for pname, kind, url, builtin in rows:
            has_key = keys.expects_key(pname)
            if has_key is None:
                try:
                    has_key = keys.key(pname, 5.0) is not None
                except SecretsUnavailable:
                    has_key = None
            where = "plaintext file" if has_key and pname in in_file else ("keyring" if has_key else None)
            listing.append(
                {"name": pname, "kind": kind, "base_url": url, "builtin": builtin, "key_set": has_key, "key_in": where}
            )
        if args.json:
            _emit(listing)
        else:
            for p in listing:
                key = {True: "key set", False: "no key", None: "key unknown (keyring unreadable)"}[p["key_set"]]
                if p["key_in"] == "plaintext file":
                    key += f" (in {PLAINTEXT_FILE})"
                print(
                    f"{p['name']:<12} {p['kind']:<10} {p['base_url']:<40} {key}"
                    + (" (built-in)" if p["builtin"] else "")
                )
        return EXIT_OK
    if not name:
        raise UsageError(f"usage: {PROVIDER_USAGE}")
    if action == "add":
        if not args.kind or not args.url:
            raise UsageError("provider add needs --kind and --url")
        before = store.providers.get(name)
        try:
            provider = store.providers.save(name, args.kind, args.url)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        print(f"provider {provider.name} ({provider.kind}) at {provider.base_url}")
        if before is not None and before.base_url != provider.base_url and store.providers.key_state(name)[0]:
            print(f"note: the key stored for {name} will now be sent to {provider.base_url}", file=sys.stderr)
        return EXIT_OK
    if action == "remove":
        had_key = store.providers.key_state(name)[0] is not False
        try:
            store.providers.remove(name)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        what = "(it had no key)"
        if had_key:
            try:
                open_secrets(data_dir).delete(name)
                what = "and its key"
            except SecretsUnavailable:  # no keyring here: there is no stored key to remove either
                what = "(no keyring available, so no key was stored)"
        print(f"removed provider {name} {what}")
        return EXIT_OK
    if name != OLLAMA and store.providers.get(name) is None:
        raise UsageError(f"no provider {name!r} (see: heartbeat-desktop provider list)")
    if action == "set-key":
        key = _read_key(name)  # first: an empty key is the problem to report, not the keyring
        try:
            secrets = open_secrets(data_dir, allow_plaintext=args.store_plaintext_key_file)
        except SecretsUnavailable as exc:
            return _error(f"key not stored: {exc}", EXIT_FAIL)
        secrets.set(name, key)
        store.providers.set_key_state(name, True)
        print(f"key for {name} stored in {secrets.description}")
        return EXIT_OK
    if action == "clear-key":
        if store.providers.key_state(name)[0] is False:
            print(f"no key was stored for {name}")
            return EXIT_OK
        try:
            open_secrets(data_dir).delete(name)
        except SecretsUnavailable as exc:
            return _error(str(exc), EXIT_FAIL)
        store.providers.set_key_state(name, False)
        print(f"key for {name} removed")
        return EXIT_OK
    from .llm.server_memory import RECHECK_AFTER_S

    router = make_router(store, data_dir)
    client = router.client_for(name)
    info = client.version() if hasattr(client, "version") else "reachable"
    learned = store.providers.recall_format(name, getattr(client, "host", ""), RECHECK_AFTER_S)
    if learned:
        how = "the prompt alone" if learned == "prompt" else learned
        info += f"; the decision is asked for with {how} (the server refused the better formats)"
    print(f"{name}: {info}")
    return EXIT_OK


API_USAGE = "heartbeat-desktop api enable [--port N] | disable | info [--json] | regenerate-token"


def cmd_api(store: SqliteStore, args: argparse.Namespace) -> int:
    from .api.token import api_settings, regenerate, token

    words = _positional_words(args, ("enable", "disable", "info", "regenerate-token"), API_USAGE, 1)
    action = words[0]
    data_dir = paths.data_dir()
    if action == "enable":
        if args.port is not None and not 1024 <= args.port <= 65535:
            raise UsageError("--port must be in 1024–65535")
        store.settings.set("api_enabled", "1")
        if args.port is not None:
            store.settings.set("api_port", str(args.port))
        token(data_dir)
    elif action == "disable":
        store.settings.set("api_enabled", "0")
    elif action == "regenerate-token":
        regenerate(data_dir)
        print("a new token was generated; the old one no longer works")
    settings = api_settings(store.settings.get)
    running = _tell_running_app({"cmd": "api-reload"}) if action != "info" else None
    if action == "info" or args.json:
        info = {"enabled": settings.enabled, "url": settings.url, "token": token(data_dir)}
        if args.json:
            _emit(info)
        else:
            print(f"enabled: {'yes' if info['enabled'] else 'no'}\nurl: {info['url']}\ntoken: {info['token']}")
        return EXIT_OK
    state = "on" if settings.enabled else "off"
    where = " (the running app applied it)" if running else " (takes effect when the app starts)"
    print(f"local API {state} at {settings.url}{where}" if action != "regenerate-token" else f"local API {state}")
    return EXIT_OK


def _ask_running_app(message: dict[str, Any]) -> dict[str, Any] | None:
    """The running app's answer, or None when no app runs for this data dir (or this build has no Qt)."""
    try:
        from .qt.services.single_instance import request, server_name
    except ImportError:
        return None
    return request(server_name(paths.data_dir()), message, timeout_s=5)


def _tell_running_app(message: dict[str, Any]) -> bool:
    return _ask_running_app(message) is not None


def cmd_quit(_store: None, args: argparse.Namespace) -> int:
    """Ask the running app (for this data dir) to quit cleanly."""
    try:
        from .qt.services.single_instance import request, server_name
    except ImportError:
        return _error("this build has no tray app to quit", EXIT_FAIL)
    reply = request(server_name(paths.data_dir()), {"cmd": "quit"}, timeout_s=5)
    if reply is None:
        print("Heartbeat Desktop is not running")
        return EXIT_OK
    print(f"asked Heartbeat Desktop (pid {reply.get('pid')}) to quit")
    return EXIT_OK


def cmd_feed(store: SqliteStore, args: argparse.Namespace) -> int:
    posts = store.feed.posts(limit=args.limit)
    if args.json:
        _emit(
            [
                {
                    "id": p.id,
                    "title": p.title,
                    "content": p.content,
                    "score": p.score,
                    "thread_id": p.thread_id,
                    "run_id": p.run_id,
                    "created_at": _iso(p.created_at),
                    "comments": [
                        {
                            "id": c.id,
                            "content": c.content,
                            "thread_id": c.thread_id,
                            "run_id": c.run_id,
                            "created_at": _iso(c.created_at),
                        }
                        for c in store.feed.comments(p.id)
                    ],
                }
                for p in posts
            ]
        )
        return EXIT_OK
    if not posts:
        print("the feed is empty")
    for p in posts:
        where = f"{p.thread_id or '-'}, {_time(p.created_at)}, {p.comment_count} comments"
        print(f"#{p.id:<5} {p.score:+d}  {p.title}  [{where}]")
    return EXIT_OK


# ---------------------------------------------------------------------------- parser
def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type for a bounded whole number: `--limit 0`, `-1` or 10**20 get one clear line."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number in {low}–{high}, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}–{high}, not {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartbeat-desktop",
        description="Give your personal AI agent a heartbeat. Without a command, starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"heartbeat-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run-now", help="run one heartbeat now and print the result")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--dry-run", action="store_true", help="decide, but write nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run_now)

    p = sub.add_parser("status", help="threads, their last result, the Ollama host")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("history", help="recent runs, newest first")
    p.add_argument("--thread")
    p.add_argument("--limit", type=_count(1, 10_000), default=20, help="how many runs, 1–10000 (default 20)")
    p.add_argument("--status", choices=RUN_STATUSES)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("config", help="get or set a thread's heartbeat config", usage=CONFIG_USAGE)
    p.add_argument("words", nargs="*", metavar="get|set [KEY [VALUE]]")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("settings", help="get or set app-wide settings (Ollama host, default model, timeout)")
    p.add_argument("action", choices=("get", "set"))
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?", help="empty to restore the default")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("check", help="parse a HEARTBEAT.md and show what it found")
    p.add_argument("path", nargs="?", help="file or directory (default: the data dir)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check, needs_store=False)

    p = sub.add_parser("threads", help="list, add or remove threads", usage=THREADS_USAGE)
    p.add_argument("words", nargs="*", metavar="list|add|remove [ID]")
    p.add_argument("--title")
    p.add_argument("--workspace", help="directory holding this thread's HEARTBEAT.md")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_threads)

    p = sub.add_parser("message", help="add a message to a thread")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--role", choices=ROLES, default="user")
    p.add_argument("text", nargs="+")
    p.set_defaults(func=cmd_message)

    p = sub.add_parser("note", help="add a memory or contradiction note to a thread")
    p.add_argument("--thread", default=DEFAULT_THREAD)
    p.add_argument("--kind", choices=NOTE_KINDS, default="memory")
    p.add_argument("text", nargs="+")
    p.set_defaults(func=cmd_note)

    p = sub.add_parser("open", help="open a window of the running app (starting it if needed)")
    p.add_argument("window", choices=tuple(WINDOWS))
    p.set_defaults(func=cmd_open, needs_store=False)

    p = sub.add_parser(
        "provider", help="model providers and their API keys (kept in the OS keyring)", usage=PROVIDER_USAGE
    )
    p.add_argument("words", nargs="*", metavar="ACTION [NAME]")
    p.add_argument("--kind", choices=("ollama", "openai", "anthropic"))
    p.add_argument("--url")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--store-plaintext-key-file",
        action="store_true",
        help="when no OS keyring works, keep the key in a PLAINTEXT file (0600) in the data dir instead",
    )
    p.set_defaults(func=cmd_provider)

    p = sub.add_parser("quit", help="ask the running tray app to quit")
    p.set_defaults(func=cmd_quit, needs_store=False)

    p = sub.add_parser("api", help="the local control API (off by default)", usage=API_USAGE)
    p.add_argument("words", nargs="*", metavar="ACTION")
    p.add_argument("--port", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("feed", help="posts in the local feed, newest first")
    p.add_argument("--limit", type=_count(1, 10_000), default=50, help="how many posts, 1–10000 (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feed)
    return parser


def _positional_words(args: argparse.Namespace, choices: tuple[str, ...], usage: str, most: int) -> list[str]:
    """Commands whose words may come before or after their options (`config set --thread x KEY VALUE`)."""
    words = list(args.words)
    if not words or words[0] not in choices or len(words) > most:
        raise UsageError(f"usage: {usage}")
    return words


# Commands that change what the running app schedules or shows; it is told to re-read (DESIGN: "the tray
# picks changes up"). Read-only commands and run-now (carried out by the app itself) are not listed.
CHANGING = {"config", "threads", "message", "note", "settings", "provider"}
# Commands that only read: where the data directory cannot be written they still work, read-only.
READING = {"history", "status", "feed"}
READING_WORDS = ("get", "list", "info", "test")


def main(argv: list[str] | None = None) -> int:
    os.umask(paths.PRIVATE_UMASK)  # everything the app writes is the user's alone (see paths.py)
    parser = build_parser()
    # Options may sit between a command's words; argparse alone cannot take `set --thread x KEY VALUE`.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "words") and not any(e.startswith("-") for e in extra):
            args.words.extend(extra)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        log_directory = paths.log_dir()
    except OSError as exc:
        print(f"heartbeat-desktop: cannot create log directory: {exc}", file=sys.stderr)
        log_directory = None
    logging_setup.setup(log_directory)
    if args.command is None:
        return start_tray(parser)
    store: SqliteStore | None = None
    words = getattr(args, "words", None) or [getattr(args, "action", None)]
    read_only = args.command in READING or words[0] in READING_WORDS
    try:
        if getattr(args, "needs_store", True):
            from .wiring import open_store

            store = open_store(reading_only=read_only)
        code = int(args.func(store, args))
        if code == EXIT_OK and args.command in CHANGING and not read_only:
            _tell_running_app({"cmd": "reload"})
        return code
    except UsageError as exc:
        return _error(str(exc), EXIT_USAGE)
    except (NoSuchThread, UnknownThread) as exc:
        return _error(str(exc), EXIT_USAGE)
    except (StoreError, LLMError, OSError) as exc:
        return _error(str(exc), EXIT_FAIL)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except Exception as exc:  # last resort: one line, never a bare traceback for the user
        log.exception("Unexpected error")
        return _error(f"unexpected error: {type(exc).__name__}: {exc} (details in the log)", EXIT_FAIL)
    finally:
        if store is not None:
            store.close()


def no_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """On Linux and the BSDs a window needs an X or Wayland session; without one Qt aborts the process
    (exit 134) with a misleading message about xcb-cursor0. QT_QPA_PLATFORM (offscreen, vnc…) is an
    explicit choice and is respected."""
    if platform in ("win32", "darwin") or environ.get("QT_QPA_PLATFORM"):
        return False
    return not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def start_tray(parser: argparse.ArgumentParser, open_window: str | None = None) -> int:
    if no_display():
        what = f"the {open_window} window" if open_window else "the tray app"
        return _error(
            f"no graphical session found (neither DISPLAY nor WAYLAND_DISPLAY is set), so {what} cannot open; "
            "the command line works without one: heartbeat-desktop --help",
            EXIT_USAGE,
        )
    try:
        from .qt.app import run_tray
    except ImportError as exc:
        return _error(f"cannot start the tray app: {exc} (the commands in --help still work)", EXIT_FAIL)
    return int(run_tray(open_window=open_window))


def cmd_open(_store: None, args: argparse.Namespace) -> int:
    """In the running app if there is one (it shows the window and we exit), else start the app with it."""
    return start_tray(build_parser(), open_window=args.window)


def _error(message: str, code: int) -> int:
    if logging_setup.debug_enabled():
        traceback.print_exc()
    print(f"heartbeat-desktop: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
