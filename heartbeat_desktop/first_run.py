"""First run: what the first-run window and `heartbeat-desktop setup` share (Qt-free, so the CLI has it too).

Whether a first start needs it (no working model configured, never completed or dismissed), storing the
server and model a person picked the way Settings and the `provider` command do, and the words: how to
install Ollama when nothing answers, and the two lines on what a heartbeat will do. The dry-run heartbeat is
the runner's, started by each caller where runs belong (the running app's, or the command's own).

`choose` and `needs_setup` do I/O (writes, the network): callers run them off the GUI thread. `done` and
`mark_done` are one small read or write, fit for the GUI thread's own connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .core.ports import LLMError, StoreError
from .core.providers import OLLAMA, model_name_problem, split_model
from .llm.discover import FoundServer
from .store import SqliteStore

log = logging.getLogger(__name__)

SETUP_DONE = "setup_done"  # app setting: "1" once setup was completed or dismissed
DEFAULT_THREAD = "default"
CHECK_S = 3.0  # the start's look at the configured servers: short, it only decides whether to offer setup

INSTALL_OLLAMA = (
    "No model server answered on this computer. The simplest to start with is Ollama:\n"
    "  1. install it from ollama.com (on Linux: curl -fsSL https://ollama.com/install.sh | sh)\n"
    "  2. pull a small model: ollama pull llama3.2\n"
    "  3. look again (heartbeat-desktop setup, or Look again in the Set up window).\n"
    "LM Studio, llama.cpp's server (llama-server), llama-cpp-python and vLLM work too: start one and look again."
)


@dataclass(frozen=True)
class Chosen:
    """What picking a server and model stored."""

    model: str  # the default model as stored: "llama3.2", or "lmstudio:qwen2.5-7b-instruct"
    provider: str  # "ollama" (the app's own) or the provider entry written
    changed: tuple[str, ...]  # each thing written, in words
    own_models: tuple[str, ...] = ()  # threads that keep a model of their own, in words


def done(store: SqliteStore) -> bool:
    return store.settings.app().setup_done


def mark_done(store: SqliteStore) -> None:
    """Completed or dismissed: the window is not offered at a start again (the menu and `open setup` still
    show it)."""
    store.settings.set(SETUP_DONE, "1")


def choose(store: SqliteStore, server: FoundServer, model: str) -> Chosen:
    """Store `server` and `model` as the model every thread without its own uses: the app's Ollama host for
    an Ollama server (a provider of its own for another Ollama would do too, but the app's Ollama is what
    Settings' App page shows), a provider entry for any other, as `provider add` writes it. Raises
    StoreError when the name or address cannot be stored."""
    from .llm.hosts import resolve_host

    changed: list[str] = []
    if server.kind == "ollama":
        provider = OLLAMA
        if resolve_host(store.settings.app().ollama_host) != server.base_url:
            store.settings.set("ollama_host", server.base_url)
            changed.append(f"Ollama host = {server.base_url}")
        # "ollama:" in front when the name would read as another provider's model (an Ollama tag "gpu:7b" beside a
        # provider gpu), as `config set model` asks
        names = [p.name for p in store.providers.list()]
        stored = model if split_model(model, names)[0] == OLLAMA else f"{OLLAMA}:{model}"
    else:
        provider = _provider_name(store, server)
        store.providers.save(provider, server.kind, server.base_url)
        changed.append(f"provider {provider} ({server.kind}) at {server.base_url}")
        stored = f"{provider}:{model}"
    problem = model_name_problem(stored, [p.name for p in store.providers.list()])
    if problem is not None:
        raise StoreError(problem)
    store.settings.set("default_model", stored)
    changed.append(f"default model = {stored}")
    mark_done(store)
    own = tuple(f"{t.title} keeps its own model {t.config.model}" for t in store.threads.list() if t.config.model)
    return Chosen(stored, provider, tuple(changed), own)


def _provider_name(store: SqliteStore, server: FoundServer) -> str:
    """The server's usual name ("lmstudio"), or that name with a number when one of that name already points
    elsewhere (a second LM Studio on another box is not silently redirected)."""
    base = server.name if server.name != OLLAMA else "local"
    for n in range(1, 100):
        name = base if n == 1 else f"{base}{n}"
        existing = store.providers.get(name)
        if existing is None or existing.base_url == server.base_url.rstrip("/"):
            return name
    raise StoreError(f"too many providers named {base}…; remove some: heartbeat-desktop provider list")


def explanation(store: SqliteStore, thread: str = DEFAULT_THREAD) -> tuple[str, str]:
    """The two lines: what a heartbeat will do (with the thread's own interval and model), and how to pause it."""
    found = store.threads.get(thread)
    minutes = max(1, round(found.config.every_seconds / 60)) if found is not None else 30
    model = (found.config.model if found is not None else None) or store.settings.app().default_model
    every = "hour" if minutes == 60 else f"{minutes} minutes"
    return (
        f"Every {every}, each thread asks {model} whether your HEARTBEAT.md calls for a post, comment or vote in "
        "the local feed; mostly it does nothing, and you are notified when it acts.",
        "Pause all heartbeats from the tray menu (Pause) or with `heartbeat-desktop pause`; Set up… in the menu "
        "or `heartbeat-desktop setup` brings this back.",
    )


def needs_setup(data_dir: Path, timeout_s: float = CHECK_S) -> bool:
    """At a start: offer setup when it was never completed or dismissed and the model a thread would use
    is not there — its server does not answer, or (Ollama) does not have the model. Meant for a background
    thread (its own database connection, network)."""
    from .llm import probe
    from .llm.hosts import resolve_host
    from .wiring import health_targets, probe_target

    with SqliteStore.worker(paths.db_file(data_dir)) as store:
        # A heartbeat that once succeeded: this is not a first start but a server down today (someone who
        # used the app before setup existed); the red icon and its notification say that, not a setup window.
        if done(store) or store.runs.history(limit=1, status="ok"):
            return False
        settings = store.settings.app()
        names = [p.name for p in store.providers.list()]
        models = [t.config.model or settings.default_model for t in store.threads.list() if t.config.enabled]
        host = resolve_host(settings.ollama_host)
    ollama_models = [bare for name, bare in (split_model(m, names) for m in models) if name == OLLAMA]
    try:
        for target in health_targets(data_dir):
            probe_target(target)
        have = set(probe.model_names(host, timeout_s)) if ollama_models else set()
    except LLMError as exc:
        log.info("First run: the configured model server is not usable (%s); offering setup", exc)
        return True
    return any(m not in have and f"{m}:latest" not in have for m in ollama_models)
