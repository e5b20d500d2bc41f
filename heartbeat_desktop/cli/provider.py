"""`provider list|add|remove|set-key|clear-key|test|models`: model providers, their API keys and models.

Keys live in the OS keyring (or, only when asked, a 0600 plaintext file); the database only records
whether a key is set, so listing providers never opens the keyring and never pops an unlock dialog.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from .. import paths
from ..core.ports import StoreError
from ..core.providers import key_problem
from ..store import SqliteStore
from .common import EXIT_FAIL, EXIT_OK, UsageError, emit, error, warn

MODELS_SHOWN = 12  # `provider test` names this many; `provider models` lists them all


def cmd_provider_list(store: SqliteStore, args: argparse.Namespace) -> int:
    """Whether a key is set comes from the store. A provider from before the app kept track is looked up
    once, briefly, and remembered."""
    from ..llm.router import OLLAMA
    from ..secrets import PLAINTEXT_FILE, PlaintextSecrets, SecretsUnavailable
    from ..wiring import key_cache, make_router, stored_keys

    data_dir = paths.data_dir()
    keys = stored_keys(store, key_cache(data_dir))
    rows = [(OLLAMA, "ollama", make_router(store, data_dir).host, True)] + [
        (p.name, p.kind, p.base_url, p.builtin) for p in store.providers.list()
    ]
    listing: list[dict[str, Any]] = []
    try:
        in_file = PlaintextSecrets(data_dir).names()
    except SecretsUnavailable as exc:  # the user's own file, unreadable: say so and list the rest
        print(f"warning: {exc} — {exc.hint}", file=sys.stderr)
        in_file = set()
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
        emit(listing)
        return EXIT_OK
    for p in listing:
        key = {True: "key set", False: "no key", None: "key unknown (keyring unreadable)"}[p["key_set"]]
        if p["key_in"] == "plaintext file":
            key += f" (in {PLAINTEXT_FILE})"
        print(f"{p['name']:<12} {p['kind']:<10} {p['base_url']:<40} {key}" + (" (built-in)" if p["builtin"] else ""))
    return EXIT_OK


def cmd_provider_add(store: SqliteStore, args: argparse.Namespace) -> int:
    """Also changes a provider's URL: then its stored key will be sent to the new address, which is said."""
    if not args.kind or not args.url:
        raise UsageError("provider add needs --kind and --url")
    before = store.providers.get(args.name)
    try:
        provider = store.providers.save(args.name, args.kind, args.url)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    print(f"provider {provider.name} ({provider.kind}) at {provider.base_url}")
    if provider.kind == "ollama" and provider.base_url.endswith("/v1"):
        # Said at once, not after the first run's 404: /v1 is where OpenAI-style servers answer, never Ollama's API.
        warn(
            f"{provider.base_url} ends in /v1, the OpenAI-style path; an Ollama provider's URL is the server's "
            f"address ({provider.base_url.removesuffix('/v1')}). For an OpenAI-compatible server (LM Studio, "
            f"llama.cpp, vLLM): heartbeat-desktop provider add {provider.name} --kind openai --url {provider.base_url}"
        )
    if before is not None and before.base_url != provider.base_url and store.providers.key_state(args.name)[0]:
        print(f"note: the key stored for {args.name} will now be sent to {provider.base_url}", file=sys.stderr)
    return EXIT_OK


def _refuse_removal(threads: list[str], default: bool, name: str) -> None:
    """A provider in use is not removed without --force: its threads' runs would fail from then on."""
    uses = []
    if threads:
        uses.append("thread" + ("s " if len(threads) > 1 else " ") + ", ".join(threads))
    if default:
        uses.append("the default model")
    change = [f"heartbeat-desktop config set --thread {t} model MODEL" for t in threads]
    if default:
        change.append("heartbeat-desktop settings set default_model MODEL")
    raise UsageError(
        f"provider {name} is in use by {' and '.join(uses)}: change the model first ({'; '.join(change)}), "
        "or remove it anyway with --force (those runs then fail until the model is changed)"
    )


def cmd_provider_remove(store: SqliteStore, args: argparse.Namespace) -> int:
    """The key goes with the provider: a key left in the keyring would be found by a later one of that name.
    Refused while a thread's model or the default model names the provider, unless --force."""
    from ..secrets import SecretsUnavailable, open_secrets

    name = args.name
    threads, default = store.provider_users(name) if store.providers.get(name) is not None else ([], False)
    if (threads or default) and not getattr(args, "force", False):
        _refuse_removal(threads, default, name)
    had_key = store.providers.key_state(name)[0] is not False
    try:
        store.providers.remove(name)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    what = "(it had no key)"
    if had_key:
        try:
            open_secrets(paths.data_dir()).delete(name)
            what = "and its key"
        except SecretsUnavailable:  # no keyring here: there is no stored key to remove either
            what = "(no keyring available, so no key was stored)"
    print(f"removed provider {name} {what}")
    if threads or default:
        users = ", ".join([*threads, *(["the default model"] if default else [])])
        print(f"warning: {users} still name {name}: their runs fail until the model is changed", file=sys.stderr)
    return EXIT_OK


def _require_provider(store: SqliteStore, name: str) -> None:
    """Ollama is always there (it is not a row in the store); any other name must have been added."""
    from ..llm.router import OLLAMA

    if name != OLLAMA and store.providers.get(name) is None:
        raise UsageError(f"no provider {name!r} (see: heartbeat-desktop provider list)")


def _read_key(name: str) -> str:
    """From stdin when piped (scripts, password managers), else a hidden prompt. Never echoed."""
    if sys.stdin is not None and not sys.stdin.isatty():
        key = sys.stdin.readline().strip()
    else:
        key = getpass.getpass(f"API key for {name} (input hidden): ").strip()
    if not key:
        raise UsageError("no key given")
    problem = key_problem(key)
    if problem is not None:  # never echo the key itself
        raise UsageError(f"not stored: {problem} — was something else pasted with it?")
    return key


def _way_out(exc: Exception, name: str) -> str:
    hint = getattr(exc, "hint", "")
    return f" — {hint.replace('NAME', name)}" if hint else ""


def _keyring_wait_s() -> float:
    """KEY_WRITE_S, or HEARTBEAT_KEYRING_WAIT_S (seconds) for a script or a test that cannot wait that long."""
    from ..secrets import KEY_WRITE_S

    try:
        return max(0.1, float(os.environ.get("HEARTBEAT_KEYRING_WAIT_S") or KEY_WRITE_S))
    except ValueError:
        return KEY_WRITE_S


def cmd_provider_set_key(store: SqliteStore, args: argparse.Namespace) -> int:
    """Bounded like a run's keyring lookup: an unlock dialog left open, or one that hangs after Cancel,
    ends the command after KEY_WRITE_S with what happened and the way out, instead of hanging it."""
    from ..secrets import PLAINTEXT_HINT, SecretsUnavailable, bounded, open_secrets

    _require_provider(store, args.name)
    key = _read_key(args.name)  # first: an empty key is the problem to report, not the keyring
    allow, wait = args.store_plaintext_key_file, _keyring_wait_s()
    try:
        secrets = bounded(lambda: open_secrets(paths.data_dir(), allow_plaintext=allow), wait, "open")
        bounded(lambda: secrets.set(args.name, key), wait, "store the key")
    except SecretsUnavailable as exc:
        hint = (
            ""
            if allow or "--store-plaintext-key-file" in str(exc)
            else f"; {PLAINTEXT_HINT.replace('NAME', args.name)}"
        )
        return error(f"key not stored: {exc}{hint}{_way_out(exc, args.name)}", EXIT_FAIL)
    store.providers.set_key_state(args.name, True)
    print(f"key for {args.name} stored in {secrets.description}")
    return EXIT_OK


def cmd_provider_clear_key(store: SqliteStore, args: argparse.Namespace) -> int:
    """A provider known to have no key is answered from the store, without touching the keyring; the
    keyring is waited for at most KEY_WRITE_S, as `set-key` is."""
    from ..secrets import SecretsUnavailable, bounded, open_secrets

    _require_provider(store, args.name)
    if store.providers.key_state(args.name)[0] is False:
        print(f"no key was stored for {args.name}")
        return EXIT_OK
    wait = _keyring_wait_s()
    try:
        secrets = bounded(lambda: open_secrets(paths.data_dir()), wait, "open")
        bounded(lambda: secrets.delete(args.name), wait, "remove the key")
    except SecretsUnavailable as exc:
        return error(f"key not removed: {exc}{_way_out(exc, args.name)}", EXIT_FAIL)
    store.providers.set_key_state(args.name, False)
    print(f"key for {args.name} removed")
    return EXIT_OK


def cmd_provider_test(store: SqliteStore, args: argparse.Namespace) -> int:
    """Reach the server and name the models it serves; also say which output format it was last found to
    accept (it refused better ones)."""
    from ..llm.server_memory import RECHECK_AFTER_S
    from ..wiring import make_router

    _require_provider(store, args.name)
    client = make_router(store, paths.data_dir()).client_for(args.name)
    info = client.version() if hasattr(client, "version") else "reachable"
    learned = store.providers.recall_format(args.name, getattr(client, "host", ""), RECHECK_AFTER_S)
    if learned:
        how = "the prompt alone" if learned == "prompt" else learned
        info += f"; the decision is asked for with {how} (the server refused the better formats)"
    print(f"{args.name}: {info}")
    models = client.list_models() if hasattr(client, "list_models") else []
    if models:
        shown = ", ".join(models[:MODELS_SHOWN]) + (
            f" and {len(models) - MODELS_SHOWN} more" if len(models) > MODELS_SHOWN else ""
        )
        print(f"models: {shown} (use one as {args.name}:MODEL; all: heartbeat-desktop provider models {args.name})")
    return EXIT_OK


def cmd_provider_models(store: SqliteStore, args: argparse.Namespace) -> int:
    """The model ids the provider's server lists, one per line, as `config set model` takes them."""
    from ..llm.router import OLLAMA
    from ..wiring import make_router

    _require_provider(store, args.name)
    client = make_router(store, paths.data_dir()).client_for(args.name)
    models = client.list_models() if hasattr(client, "list_models") else []
    names = [m if args.name == OLLAMA else f"{args.name}:{m}" for m in models]
    if args.json:
        emit(names)
    elif not names:
        print(f"{args.name} lists no models")
    else:
        print("\n".join(names))
    return EXIT_OK
