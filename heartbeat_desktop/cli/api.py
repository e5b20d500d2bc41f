"""`api enable|disable|info|regenerate-token`: the local control API, which is off until enabled here or in
Settings. The running app is told to re-read the settings, so a change applies without a restart."""

from __future__ import annotations

import argparse

from .. import paths
from ..core.control import Request, Verb
from ..store import SqliteStore
from .common import EXIT_OK, UsageError, emit, tell_running_app


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
    if args.action == "info" or args.json:
        info = {"enabled": settings.enabled, "url": settings.url, "token": token(data_dir)}
        if args.json:
            emit(info)
        else:
            print(f"enabled: {'yes' if info['enabled'] else 'no'}\nurl: {info['url']}\ntoken: {info['token']}")
        return EXIT_OK
    state = "on" if settings.enabled else "off"
    if args.action == "regenerate-token":
        print(f"local API {state}")
        return EXIT_OK
    where = " (the running app applied it)" if running else " (takes effect when the app starts)"
    print(f"local API {state} at {settings.url}{where}")
    return EXIT_OK
