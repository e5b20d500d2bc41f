"""`api enable|disable|info|regenerate-token`: the local control API, which is off until enabled here or in
Settings. The running app is told to re-read the settings, so a change applies without a restart."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from .. import paths
from ..core.control import Request, Verb
from ..store import SqliteStore
from .common import EXIT_FAIL, EXIT_OK, AppNotAnswering, UsageError, ask_running_app, emit, error, tell_running_app


def cmd_api(store: SqliteStore, args: argparse.Namespace) -> int:
    """One function for the four actions: all of them end by reporting the same settings (with `--json`
    the same object `info` prints, so a script that enables the API gets its URL and token at once)."""
    from ..api.token import api_settings, regenerate, token

    data_dir = paths.data_dir()
    port = args.port  # only `enable` takes --port; the others have None
    if args.action == "enable":
        if port is not None and not 1024 <= port <= 65535:
            raise UsageError("--port must be in 1024–65535")
        store.settings.set("api_enabled", "1")
        if port is not None:
            store.settings.set("api_port", str(port))
        token(data_dir)  # made now, so `api info` right after shows the token the app will check
    elif args.action == "disable":
        store.settings.set("api_enabled", "0")
    elif args.action == "regenerate-token":
        regenerate(data_dir)
        print("a new token was generated; the old one no longer works")
    settings = api_settings(store.settings.get)
    running = tell_running_app(Request(Verb.API_RELOAD)) if args.action != "info" else None
    live = _live(settings.enabled)
    problem = live.get("error") if live else None
    if problem is None and live is None and settings.enabled and args.action == "info":
        problem = _port_held(settings.port)  # no app to ask: is something else there, that would get the token?
    if args.action == "info" or args.json:
        info = {
            "enabled": settings.enabled,
            "url": settings.url,
            "token": token(data_dir),
            # None: no app runs (nothing listens); else whether the app's server holds the port.
            "listening": bool(live.get("listening")) if live else None,
            "error": problem,
        }
        if args.json:
            emit(info)
        else:
            print(f"enabled: {'yes' if info['enabled'] else 'no'}\nurl: {info['url']}\ntoken: {info['token']}")
            if problem:
                print(
                    f"NOT LISTENING: {problem} — whatever answers at {settings.url} is not this app: "
                    "do not send it the token"
                )
        return EXIT_OK if not problem else EXIT_FAIL
    state = "on" if settings.enabled else "off"
    if args.action == "regenerate-token":
        print(f"local API {state}")
        return EXIT_OK
    if problem:
        return error(
            f"local API on, but the running app {problem}: choose another port (api enable --port N)", EXIT_FAIL
        )
    if settings.enabled and not running and (held := _port_held(settings.port)):
        # No app to ask: try the port as the app will. Another program there would get the token.
        return error(
            f"local API on at {settings.url}, but {held}: the app will not be able to listen there; choose another "
            "port (api enable --port N)",
            EXIT_FAIL,
        )
    where = " (the running app applied it)" if running else " (takes effect when the app starts)"
    print(f"local API {state} at {settings.url}{where}")
    return EXIT_OK


def _live(enabled: bool) -> dict[str, Any] | None:
    """The running app's own word on its API (its status), or None when no app answers: only the app knows
    whether it holds the port; the settings only say which port it should."""
    if not enabled:
        return None
    try:
        answer = ask_running_app(Request(Verb.STATUS))
    except AppNotAnswering:
        return None
    status = answer.get("status") if answer else None
    api = status.get("local_api") if isinstance(status, dict) else None
    return api if isinstance(api, dict) else None


def _port_held(port: int) -> str | None:
    """Why the app could not listen on `port` now (another program holds it), or None. Port 0 is any free one."""
    if port == 0:
        return None
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the app's server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"127.0.0.1:{port} is taken ({exc.strerror or exc})"
    return None
