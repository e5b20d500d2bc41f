"""Builds the concrete parts (store, LLM client, runner) from the environment and the stored settings.

Kept apart from the CLI and the Qt layer so both assemble the app the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from . import paths
from .core.ports import LLMClient
from .core.runner import DEFAULT_MODEL, DEFAULT_TIMEOUT_S, HeartbeatRunner
from .llm import OllamaClient
from .llm.router import ModelRouter
from .secrets import open_secrets
from .store import SqliteStore

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


def key_reader(data_dir: Path) -> Callable[[str], str | None]:
    """Looks a provider's key up when a request needs it (the keyring, or the opted-in plaintext file)."""

    def key_for(provider: str) -> str | None:
        return open_secrets(data_dir).get(provider)

    return key_for


def make_router(store: SqliteStore, data_dir: Path | None = None) -> ModelRouter:
    directory = data_dir or paths.data_dir()
    return ModelRouter(store.providers.list(), store.settings.get("ollama_host"), key_reader(directory))


def make_runner(store: SqliteStore, data_dir: Path | None = None, llm: LLMClient | None = None) -> HeartbeatRunner:
    return HeartbeatRunner(
        store,
        llm or make_router(store, data_dir),
        default_workspace=data_dir or paths.data_dir(),
        default_model=store.settings.get("default_model") or DEFAULT_MODEL,
        llm_timeout_s=llm_timeout(store),
    )
