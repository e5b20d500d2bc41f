"""Builds the concrete parts (store, LLM client, runner) from the environment and the stored settings.

Kept apart from the CLI and the Qt layer so both assemble the app the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import paths
from .core.ports import LLMClient
from .core.runner import DEFAULT_MODEL, DEFAULT_TIMEOUT_S, HeartbeatRunner
from .llm import OllamaClient
from .llm.output_format import RECHECK_AFTER_S
from .llm.router import OLLAMA, ModelRouter
from .secrets import KeyCache, StoredKeys, open_secrets
from .store import SqliteStore
from .store.providers import ProviderRepo

log = logging.getLogger(__name__)


def open_store(data_dir: Path | None = None) -> SqliteStore:
    """Open (creating on first start) the database and the default HEARTBEAT.md."""
    directory = data_dir or paths.data_dir()
    store = SqliteStore(directory / "heartbeat.db")
    paths.ensure_heartbeat_md(directory)
    return store


def llm_timeout(store: SqliteStore) -> float:
    raw = store.settings.get("llm_timeout")
    try:
        value = float(raw) if raw is not None else DEFAULT_TIMEOUT_S
    except ValueError:
        log.warning("Setting llm_timeout=%r is not a number; using %g s", raw, DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S
    return min(max(value, 1.0), 3600.0)


def make_llm(store: SqliteStore) -> OllamaClient:
    """The app's default Ollama (health checks, `status`)."""
    return OllamaClient(store.settings.get("ollama_host"))


def key_cache(data_dir: Path) -> KeyCache:
    """One per process: keyring lookups off the run path, bounded, shared and remembered."""
    return KeyCache(lambda: open_secrets(data_dir))


class StoreFormats:
    """The output format each provider's server accepts, remembered in the store across runs and restarts."""

    def __init__(self, repo: ProviderRepo) -> None:
        self._repo = repo

    def recall(self, provider: str, base_url: str) -> str | None:
        return self._repo.recall_format(provider, base_url, RECHECK_AFTER_S)

    def learn(self, provider: str, base_url: str, fmt: str) -> None:
        self._repo.learn_format(provider, base_url, fmt)


def stored_keys(store: SqliteStore, cache: KeyCache) -> StoredKeys:
    return StoredKeys(store.providers.key_state, cache, store.providers.set_key_state)


def key_snapshot(store: SqliteStore, data_dir: Path) -> StoredKeys:
    """Key states read now, for a background task that must not touch this thread's store connection."""
    names = [OLLAMA, *(p.name for p in store.providers.list())]
    states = {name: store.providers.key_state(name) for name in names}
    return StoredKeys(lambda name: states.get(name, (False, None)), key_cache(data_dir))


def make_router(store: SqliteStore, data_dir: Path | None = None, keys: KeyCache | None = None) -> ModelRouter:
    cache = keys or key_cache(data_dir or paths.data_dir())
    return ModelRouter(
        store.providers.list(),
        store.settings.get("ollama_host"),
        stored_keys(store, cache),
        StoreFormats(store.providers),
    )


def make_runner(
    store: SqliteStore, data_dir: Path | None = None, llm: LLMClient | None = None, keys: KeyCache | None = None
) -> HeartbeatRunner:
    return HeartbeatRunner(
        store,
        llm or make_router(store, data_dir, keys),
        default_workspace=data_dir or paths.data_dir(),
        default_model=store.settings.get("default_model") or DEFAULT_MODEL,
        llm_timeout_s=llm_timeout(store),
    )
