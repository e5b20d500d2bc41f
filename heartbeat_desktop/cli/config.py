"""`config get|set`: one thread's heartbeat config; `settings get|set`: the app-wide settings.

Values arrive as shell words ("900", "yes", "22-6") and are checked by the same models the app and the
API use, so a value refused here is refused everywhere, with the same allowed range in the message.
"""

from __future__ import annotations

import argparse
import json

from .. import paths
from ..core.config import ActiveHoursUnpaired, ConfigError, HeartbeatConfig, parse_active_hours, parse_cli_value
from ..store import SqliteStore
from ..store.settings import KNOWN as KNOWN_SETTINGS
from .common import EXIT_OK, UsageError, emit, warn


def _config(store: SqliteStore, thread_id: str) -> HeartbeatConfig:
    """The thread's config as the app would run it; what it had to ignore is said once, on stderr."""
    thread = store.threads.require(thread_id)
    for warning in thread.config_warnings:
        warn(warning)
    return thread.config


def cmd_config_get(store: SqliteStore, args: argparse.Namespace) -> int:
    """One value bare (a string as is, anything else as JSON) for `$(…)` in scripts; all of them as JSON."""
    data = _config(store, args.thread).to_dict()
    if not args.key:
        emit(data)
        return EXIT_OK
    if args.key == "active_hours":  # the pair `config set active_hours` takes, read back the same way
        start, end = data["active_hours_start"], data["active_hours_end"]
        print("off" if start is None or start == end else f"{start}-{end}")
        return EXIT_OK
    if args.key not in data:
        raise UsageError(f"unknown setting {args.key!r}; known: {', '.join(data)}")
    value = data[args.key]
    print(json.dumps(value) if not isinstance(value, str) else value)
    return EXIT_OK


def cmd_config_set(store: SqliteStore, args: argparse.Namespace) -> int:
    """`active_hours` sets both halves at once ("22-6" overnight, "9-17", "off"): set one at a time, the
    pair would be invalid in between."""
    config = _config(store, args.thread)
    try:
        if args.key == "active_hours":
            updates = parse_active_hours(args.value)
        else:
            updates = {args.key: parse_cli_value(args.key, args.value)}
        updated = config.with_updates(**updates)
    except ActiveHoursUnpaired as exc:
        raise UsageError(f"{exc} (set both with: config set active_hours 22-6)") from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.key == "model" and updated.model:
        _check_model(store, updated.model)
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
    value = updated.to_dict()[key]
    if key == "model" and value is None:  # "model = null" said nothing about what the thread now uses
        print(f"{args.thread}: model = (the default model, {store.settings.app().default_model})")
        return EXIT_OK
    print(f"{args.thread}: {key} = {json.dumps(value)}")
    return EXIT_OK


def _known_setting(key: str | None) -> None:
    if key is not None and key not in KNOWN_SETTINGS:
        raise UsageError(f"unknown setting {key!r}; known: {', '.join(KNOWN_SETTINGS)}")


def _effective_settings(store: SqliteStore) -> dict[str, str]:
    """What each app setting is in use as, stored or not (`settings get` prints these, not an empty line)."""
    from ..core.app_settings import AppSettings
    from ..wiring import make_llm

    settings = store.settings.app()
    values = {key: AppSettings.shown(key, getattr(settings, key)) for key in KNOWN_SETTINGS}
    values["ollama_host"] = settings.ollama_host or make_llm(store).host  # as typed, or the one in use
    return values


def cmd_settings_get(store: SqliteStore, args: argparse.Namespace) -> int:
    """The value in use, set or not; the listing marks the ones left at their default."""
    _known_setting(args.key)
    effective = _effective_settings(store)
    if args.key:
        print(effective[args.key])
        return EXIT_OK
    stored = store.settings.all()
    width = max(map(len, KNOWN_SETTINGS))  # the longest key (keep_run_details_days) pushed its row out
    for key, help_text in KNOWN_SETTINGS.items():
        shown = effective[key] if stored.get(key) else f"{effective[key]} (default)"
        print(f"{key:<{width}} {shown:<36} {help_text}")
    return EXIT_OK


def cmd_settings_set(store: SqliteStore, args: argparse.Namespace) -> int:
    """An empty or missing value restores the default; the echo shows the value as the app reads it."""
    from ..core.app_settings import AppSettings

    _known_setting(args.key)
    value = args.value
    if value not in (None, ""):
        try:
            value = AppSettings.check(args.key, value)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.key == "default_model":
            check_model_name(store, str(value))
    store.settings.set(args.key, value or None)
    shown = AppSettings.shown(args.key, getattr(AppSettings.load({args.key: value})[0], args.key)) if value else ""
    print(f"{args.key} = {shown or '(default)'}")
    return EXIT_OK


MODEL_CHECK_S = 5.0  # `config set model` asks the server whether it has the model; a slow one is not waited for


def check_model_name(store: SqliteStore, model: str) -> None:
    """`core.providers.model_name_problem` for every command that takes a model name (`config set model`,
    `settings set default_model`, `eval --model`, `replay --model`); raises UsageError."""
    from ..core.providers import gone_provider, gone_provider_error, model_name_problem

    names = [p.name for p in store.providers.list()]
    problem = model_name_problem(model, names)
    if problem is not None:
        raise UsageError(problem)
    gone = gone_provider(model, names, store.providers.removed())
    if gone is not None:  # its runs would fail: say so now, not at the next heartbeat
        message, hint = gone_provider_error(gone)
        raise UsageError(f"{message}: {hint}")


def _check_model(store: SqliteStore, model: str) -> None:
    """`check_model_name`, then: a model the provider's server does not list is a warning (the server may load
    it on demand, or be down now), never a refusal. An Ollama model is not looked up: its list is Settings' and
    `provider models ollama`'s, and a config edited offline stays quiet."""
    from ..core.ports import LLMError
    from ..core.providers import OLLAMA, split_model
    from ..wiring import make_router

    check_model_name(store, model)
    provider, name = split_model(model, [p.name for p in store.providers.list()])
    if provider == OLLAMA:
        return
    try:
        client = make_router(store, paths.data_dir()).client_for(provider, key_wait_s=MODEL_CHECK_S)
        listed = client.list_models(MODEL_CHECK_S) if hasattr(client, "list_models") else None
    except LLMError as exc:
        warn(f"could not check that {provider} has {name!r}: {exc}")
        return
    if listed is not None and name not in listed and f"{name}:latest" not in listed:
        shown = ", ".join(listed[:8]) + ("…" if len(listed) > 8 else "") if listed else "none"
        warn(f"{provider} does not list a model {name!r} (it lists: {shown}); saved anyway")
