"""Shared fixtures: a temp data dir, a real SQLite store in it, a real loopback Ollama-protocol server."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent

GOOD_MD = """## Checklist
- [ ] Summarise open questions

## Rules
If a question is open → post a reminder.
"""


@pytest.fixture(autouse=True)
def _collect_on_the_main_thread() -> Iterator[None]:
    """Widgets and dialogs a test drops become garbage with reference cycles (slots that close over
    `self`). Left to the automatic collector they are freed on whichever thread allocates next — a loopback
    server's, a task's — and a Qt object destroyed off its thread crashes the process (a segfault seen once
    in the whole suite). Collect them here, on the thread that owns them, after every test. The app does the
    same when a window closes (qt/window_manager.py `WindowManager._forget`)."""
    yield
    parts = sys.modules.get("tests.qt.app_parts")  # only where a test used it: no Qt import for the rest
    if parts is not None:
        while parts.LIVE:
            parts.LIVE.pop().scheduler.discard()  # a never-started scheduler's queued events, taken first
    gc.collect()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real user's data dir, Ollama or log dir."""
    monkeypatch.setenv("HEARTBEAT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    # The first-run window is offered at a start only in the tests about it (tests/qt/test_setup_window.py):
    # elsewhere a tray app started without a model would open it beside what the test looks at.
    monkeypatch.setenv("HEARTBEAT_FIRST_RUN", "off")
    monkeypatch.delenv("HEARTBEAT_SETUP_ADDRESSES", raising=False)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("HEARTBEAT_DATA_DIR", str(path))
    return path


@pytest.fixture
def ollama() -> Iterator[OllamaServer]:
    server = OllamaServer().start()
    yield server
    server.stop()


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(data_dir / "heartbeat.db")
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    yield s
    s.close()


@pytest.fixture
def runner(store: SqliteStore, data_dir: Path, ollama: OllamaServer) -> HeartbeatRunner:
    return HeartbeatRunner(store, OllamaClient(ollama.url), default_workspace=data_dir, llm_timeout_s=5)


# Tests that share one worker of the parallel run (pytest-xdist, `--dist loadgroup`, set in pyproject.toml).
# Every other test is a unit of its own: its files, servers, display and bus are its own (temp folders, port 0,
# Xvfb -displayfd, private dbus-daemons), so any worker may run it beside any other.
#   keyring, refcounts: module fixtures (a GNOME Keyring with its bus; ten million references added to None
#     for the rest of the process), set up once instead of once per worker.
# The real-engine tests are not grouped: they are the longest (a minute or more each) and CPU-bound, and on one
# worker they were the suite's whole tail (8 minutes while three workers idled). Each worker that runs one
# starts the session's server it needs (a model load takes a second); the engines run one thread each
# (tests/support/llama_engine.py), so four of them share two cores without spinning on each other.
XDIST_GROUPS = {
    "tests/test_secrets.py": "keyring",
    "tests/qt/test_refcounts.py": "refcounts",
}
_ENGINES = ("real_ollama", "real_openai", "real_openai_2048")


def _order(item: pytest.Item) -> int:
    """The real-engine tests first, so the workers start the long ones at once and the short ones fill in
    around them; the llama-server tests last (packaging/dev-env.sh builds it in the background at low priority
    while the suite runs, and they wait for that build: tests/support/llama_server_bin.py)."""
    fixtures = getattr(item, "fixturenames", ())
    if "real_llama_server" in fixtures:
        return 2
    return 0 if any(name in fixtures for name in _ENGINES) else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.nodeid.split("::")[0]
        group = next((name for prefix, name in XDIST_GROUPS.items() if where.startswith(prefix)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_order)
