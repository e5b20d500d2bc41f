"""Builds the concrete parts (store, LLM client, runner) from the environment and the stored settings.

Kept apart from the CLI and the Qt layer so both assemble the app the same way. The model clients (httpx,
the ollama library) and the runner are imported inside the functions that build them: the tray app
imports this module at launch and needs none of them until the first heartbeat or window (issue #17).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from . import paths
from .core.app_settings import keep_alive_value
from .core.ports import LLMClient, LLMError, StoreError
from .core.presence import PresenceSource
from .core.providers import HealthTarget
from .core.providers import health_targets as health_targets_of
from .llm.server_memory import RECHECK_AFTER_S
from .secrets import KeyCache, StoredKeys, open_secrets
from .store import SqliteStore
from .store.providers import ProviderRepo

if TYPE_CHECKING:
    from .core.eval_suite import Suite
    from .core.runner import HeartbeatRunner
    from .llm import OllamaClient
    from .llm.router import ModelRouter
    from .llm.unload import Unloaded

log = logging.getLogger(__name__)


def open_store(data_dir: Path | None = None, *, reading_only: bool = False) -> SqliteStore:
    """Open (creating on first start) the database and the default HEARTBEAT.md.

    `reading_only`: the caller only reads (history, status…); where the data directory cannot be written
    (a read-only mount, a copy from a backup) the database is then opened read-only instead of failing."""
    directory = data_dir or paths.data_dir()
    paths.secure_files(directory)
    first_start = not paths.db_file(directory).exists()
    try:
        store = SqliteStore(paths.db_file(directory))
    except StoreError as exc:
        if not reading_only:
            if not os.access(directory, os.W_OK):
                raise StoreError(f"{exc} (the data directory {directory} cannot be written)") from None
            raise
        try:
            store = SqliteStore(paths.db_file(directory), read_only=True)
        except StoreError:
            raise exc from None  # not a write problem: the first error says what is wrong
        log.info("Opened the database read-only (%s)", exc)
        return store
    if first_start:  # the template once, on the very first start: a file deleted later is reported, not replaced
        paths.ensure_heartbeat_md(directory)
    return store


RUN_WAIT_MARGIN_S = 30.0


def llm_timeout(store: SqliteStore) -> float:
    return store.settings.app().llm_timeout


def run_wait_s(store: SqliteStore) -> float:
    """How long a caller waits for a run it asked the app for (CLI, API): a run-now on a busy thread waits
    behind the run in flight (the scheduler queues it once), so two model deadlines, plus the context and
    the writes."""
    return 2 * llm_timeout(store) + RUN_WAIT_MARGIN_S


def context_tokens(store: SqliteStore) -> int:
    """The context window prompts are built to fit (a smaller one a server reported still wins)."""
    return store.settings.app().context_tokens


def make_llm(store: SqliteStore) -> OllamaClient:
    """The app's default Ollama (health checks, `status`)."""
    from .llm import OllamaClient

    return OllamaClient(store.settings.app().ollama_host)


def llm_for(data_dir: Path) -> OllamaClient:
    """The app's default Ollama on a connection of its own: for work on a background thread, which must
    never share the GUI thread's."""
    with SqliteStore.worker(paths.db_file(data_dir)) as store:
        return make_llm(store)


def health_targets(data_dir: Path) -> list[HealthTarget]:
    """The model servers the enabled threads use now (the health check's: read on its own thread)."""
    from .llm.hosts import resolve_host

    with SqliteStore.worker(paths.db_file(data_dir)) as store:
        default = store.settings.app().default_model
        models = [t.config.model or default for t in store.threads.list() if t.config.enabled]
        host = resolve_host(store.settings.app().ollama_host)
        return health_targets_of(models, store.providers.list(), host, store.providers.removed())


def unload_in_use(data_dir: Path, keys: KeyCache | None = None) -> list[Unloaded]:
    """ "Unload models now" for the servers the threads use (each thread's model, or the default it falls back
    to): each Ollama frees its models, every other server is said to keep its own (llm/unload.py). Network
    and keyring work: call it off the GUI thread."""
    from .llm.hosts import resolve_host
    from .llm.unload import Unloader, unload

    with SqliteStore.worker(paths.db_file(data_dir)) as store:
        default = store.settings.app().default_model
        models = [t.config.model or default for t in store.threads.list()]
        host = resolve_host(store.settings.app().ollama_host)
        targets = health_targets_of(models, store.providers.list(), host, store.providers.removed())
        router = make_router(store, data_dir, keys)  # reads the store as it goes (keys): used inside
        return unload(targets, lambda target: cast("Unloader", router.client_for(target.provider)))


def probe_target(target: HealthTarget) -> str:
    """The health check of one server: a standard-library GET (llm/probe.py), not a model client, so the idle
    tray app never loads httpx and the ollama library (issue #17). Ollama's version; for the other
    protocols, whether the server answers at its base URL. Raises LLMError."""
    from .llm import probe
    from .llm.hosts import host_problem

    problem = host_problem(target.url)
    if problem is not None:
        raise LLMError("unreachable", f"the address of {target.label} is not usable: {problem}")
    if target.kind == "ollama":
        return f"{target.label} {probe.version(target.url, who=target.label)} at {target.url}"
    return probe.answers(target.url, target.kind, target.label)


def prefetch_keys(db_path: Path, cache: KeyCache) -> None:
    """Read the stored keys into the cache, so a heartbeat finds them waiting (and a keyring that needs
    unlocking asks at start, not in the middle of a run). Meant for a thread of its own."""
    try:
        with SqliteStore.worker(db_path) as store:
            states = _key_states(store)
    except StoreError as exc:
        log.warning("Could not read which providers have keys: %s", exc)
        return
    cache.prefetch({name: changed for name, (has_key, changed) in states.items() if has_key})


def key_cache(data_dir: Path) -> KeyCache:
    """One per process: keyring lookups off the run path, bounded, shared and remembered."""
    return KeyCache(lambda: open_secrets(data_dir))


class StoreServerMemory:
    """What each provider's server accepts (output format, context windows), kept in the store across runs
    and restarts (see llm/server_memory.py)."""

    def __init__(self, repo: ProviderRepo) -> None:
        self._repo = repo

    def recall_format(self, provider: str, base_url: str) -> str | None:
        return self._repo.recall_format(provider, base_url, RECHECK_AFTER_S)

    def learn_format(self, provider: str, base_url: str, fmt: str) -> None:
        self._repo.learn_format(provider, base_url, fmt)

    def recall_window(self, provider: str, base_url: str, model: str) -> int | None:
        return self._repo.recall_window(provider, base_url, model, RECHECK_AFTER_S)

    def learn_window(self, provider: str, base_url: str, model: str, tokens: int) -> None:
        self._repo.learn_window(provider, base_url, model, tokens)


def stored_keys(store: SqliteStore, cache: KeyCache) -> StoredKeys:
    return StoredKeys(store.providers.key_state, cache, store.providers.set_key_state)


def key_snapshot(store: SqliteStore, data_dir: Path) -> StoredKeys:
    """Key states read now, for a background task that must not touch this thread's store connection."""
    states = _key_states(store)
    return StoredKeys(lambda name: states.get(name, (False, None)), key_cache(data_dir))


def _key_states(store: SqliteStore) -> dict[str, tuple[bool | None, float | None]]:
    """Whether each provider (the built-in Ollama included) has a stored key, and when it last changed."""
    from .llm.router import OLLAMA

    return {name: store.providers.key_state(name) for name in (OLLAMA, *(p.name for p in store.providers.list()))}


def make_router(store: SqliteStore, data_dir: Path | None = None, keys: KeyCache | None = None) -> ModelRouter:
    from .llm.router import ModelRouter

    cache = keys or key_cache(data_dir or paths.data_dir())
    return ModelRouter(
        store.providers.list(),
        store.settings.app().ollama_host,
        stored_keys(store, cache),
        StoreServerMemory(store.providers),
        keep_alive=keep_alive_value(store.settings.app().model_keep_alive),
        removed=store.providers.removed(),
    )


def make_runner(
    store: SqliteStore,
    data_dir: Path | None = None,
    llm: LLMClient | None = None,
    keys: KeyCache | None = None,
    presence: PresenceSource | None = None,
) -> HeartbeatRunner:
    """The runner reads the store's clock: the real one, or the app's simulated one (core/clock.py)."""
    from .core.runner import HeartbeatRunner

    settings = store.settings.app()
    return HeartbeatRunner(
        store,
        llm or make_router(store, data_dir, keys),
        default_workspace=data_dir or paths.data_dir(),
        default_model=settings.default_model,
        llm_timeout_s=settings.llm_timeout,
        context_tokens=settings.context_tokens,
        presence=presence,
        clock=store.clock,
    )


BUILTIN_SUITE = "resources/eval-suite.toml"


def load_suite(path: Path | None) -> Suite:
    """A decision-quality suite from the user's file, or the one that ships with the app (`eval` and
    Settings → Compare models… both load it here). Raises SuiteError or files.UnreadableFile."""
    from .core.eval_suite import parse_suite, suite_format
    from .files import read_user_text

    path = path or paths.bundled(BUILTIN_SUITE)
    return parse_suite(read_user_text(path, "suite"), suite_format(path))
