"""Issue "rough edges", found by a user who lived with the app: the real app (offscreen), a real store, the
loopback Ollama-protocol server and a loopback OpenAI-compatible server that answers as llama.cpp's does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from heartbeat_desktop.core.notify import Notice
from heartbeat_desktop.qt.app import TrayApp
from heartbeat_desktop.qt.icons import TrayState
from heartbeat_desktop.qt.tray_wait import TrayWait
from heartbeat_desktop.qt.windows.editor_window import EditorWindow
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD, REPO
from tests.support.ollama_server import OllamaServer
from tests.support.provider_servers import ProviderServer


@pytest.fixture
def app_env(data_dir: Path, ollama: OllamaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    return data_dir


def _started(qtbot, data_dir: Path, **kw: object) -> TrayApp:
    app = TrayApp(QApplication.instance(), data_dir, tray_wait_s=0, **kw)
    assert app.start()
    qtbot.waitUntil(lambda: app.scheduler.state.started, timeout=5000)
    return app


def _stop(app: TrayApp) -> None:
    app.scheduler.stop()
    app.instance.close()
    app.signals.close()
    app.notifier.close()
    if app.fallback is not None:
        app.fallback.close()
    for window in QApplication.topLevelWidgets():
        window.close()


@pytest.fixture
def tray_app(qtbot, app_env: Path) -> Iterator[TrayApp]:
    app = _started(qtbot, app_env)
    yield app
    _stop(app)


def _cli(data_dir: Path, *args: str, host: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": host}
    env.pop("LOG_LEVEL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "heartbeat_desktop", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------ 1. Unload models now
def test_unload_models_acts_only_on_the_servers_the_threads_use(
    qtbot, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every thread on a llama.cpp server, no Ollama anywhere: the button said "Could not unload the models —
    cannot reach Ollama". Now it names that server and says what to do, and never mentions Ollama."""
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing there, and no thread uses it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = ProviderServer("openai", key=None, models=("smollm2",), owned_by="llamacpp")
    store = SqliteStore(data_dir / "heartbeat.db")
    try:
        store.providers.save("llamacpp", "openai", server.base_url)
        for thread in store.threads.list():
            store.threads.set_config(thread.id, thread.config.with_updates(model="llamacpp:smollm2"))
    finally:
        store.close()
    app = _started(qtbot, data_dir)
    shown: list[Notice] = []
    app.notifier.shown.connect(shown.append)
    try:
        qtbot.waitUntil(lambda: app.health.reachable is True, timeout=10000)
        app.unload_models()
        qtbot.waitUntil(lambda: bool(shown), timeout=10000)
        [notice] = shown
        port = server.base_url.split(":")[-1].split("/")[0]
        assert notice.body == f"llama.cpp server on :{port} keeps its model loaded; stop the server to free its memory"
        assert notice.title == "Nothing was unloaded" and not notice.critical
        assert "Ollama" not in notice.title + notice.body
        server.stop()  # a server that is not running holds nothing, and is said so
        app.unload_models()
        qtbot.waitUntil(lambda: len(shown) == 2, timeout=10000)
        assert shown[1].body == f"llamacpp at {server.base_url} is not running, so it holds no model"
        assert "Ollama" not in shown[1].title + shown[1].body and not shown[1].critical
    finally:
        server.stop()
        _stop(app)


def test_unload_models_frees_ollama_and_names_the_server_that_keeps_its_model(
    qtbot, tray_app: TrayApp, ollama: OllamaServer
) -> None:
    """A thread on Ollama and one on a llama.cpp server: Ollama unloads (keep_alive 0), the other is named."""
    server = ProviderServer("openai", key=None, models=("smollm2",), owned_by="llamacpp")
    try:
        store = tray_app.gui_store
        store.providers.save("llamacpp", "openai", server.base_url)
        store.threads.create("local", "Local")
        store.threads.set_config("local", store.threads.get("local").config.with_updates(model="llamacpp:smollm2"))
        ollama.loaded.add("qwen3:4b")
        shown: list[Notice] = []
        tray_app.notifier.shown.connect(shown.append)
        tray_app.unload_models()
        qtbot.waitUntil(lambda: bool(shown), timeout=10000)
        port = server.base_url.split(":")[-1].split("/")[0]
        assert shown[0].title == "Models unloaded" and ollama.loaded == set(), shown[0].body
        assert shown[0].body.splitlines() == [
            f"Ollama at {ollama.url}: unloaded qwen3:4b",
            f"llama.cpp server on :{port} keeps its model loaded; stop the server to free its memory",
        ]
    finally:
        server.stop()


# ------------------------------------------------------------------ 3. dry runs and the icon
def test_a_dry_run_with_the_server_down_leaves_the_icon_alone(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """A dry run (run-now --dry-run through the app) is a question: with the server down it turned the icon red."""
    qtbot.waitUntil(lambda: tray_app.health.reachable is True, timeout=5000)
    finished: list[object] = []
    tray_app.scheduler.run_finished.connect(finished.append)
    ollama.stop()
    tray_app.scheduler.run_heartbeat_now("default", dry_run=True)
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)
    assert finished[0].dry_run and finished[0].error_kind == "unreachable"
    qtbot.waitUntil(lambda: not tray_app.scheduler.state.in_flight, timeout=5000)
    qtbot.wait(300)  # a health change would be on its way by now
    assert tray_app.health.reachable is True and tray_app.tray.error is None
    assert tray_app.tray.current is TrayState.IDLE
    tray_app.scheduler.run_heartbeat_now("default")  # a real run-now does say the server is down
    qtbot.waitUntil(lambda: tray_app.tray.current is TrayState.ERROR, timeout=15000)
    assert "cannot reach Ollama" in str(tray_app.tray.error)


# ------------------------------------------------------------------ 4. a tray that goes away
def test_the_tray_watch_says_missing_after_a_loss_and_found_when_it_is_back(qtbot) -> None:
    tray = {"up": True}
    said: list[str] = []
    watch = TrayWait(0, lambda: tray["up"], grace_s=0.3, poll_ms=50, late_poll_ms=100)
    watch.found.connect(lambda: said.append("found"))
    watch.missing.connect(lambda: said.append("missing"))
    watch.start()
    assert said == ["found"] and not watch.waiting  # a desktop with a tray: nothing polls
    watch.recheck()
    assert said == ["found"] and not watch.waiting  # still there: nothing
    tray["up"] = False
    watch.recheck()
    qtbot.wait(150)
    assert said == ["found"]  # a panel restarting gets its grace
    tray["up"] = True
    qtbot.waitUntil(lambda: said == ["found", "found"], timeout=2000)  # back within it: no window at all
    tray["up"] = False
    watch.recheck()
    qtbot.waitUntil(lambda: said == ["found", "found", "missing"], timeout=2000)
    assert watch.waiting  # looking for its return
    tray["up"] = True
    qtbot.waitUntil(lambda: said[-1] == "found", timeout=2000)
    assert said == ["found", "found", "missing", "found"] and not watch.waiting


def test_a_tray_that_goes_brings_the_window_and_its_return_the_icon(qtbot, app_env: Path, ollama: OllamaServer) -> None:
    tray = {"up": True}
    app = _started(qtbot, app_env, tray_available=lambda: tray["up"])
    try:
        assert app.fallback is None
        app.tray_wait.grace_s, app.tray_wait.poll_ms, app.tray_wait.late_poll_ms = 0.2, 50, 100
        tray["up"] = False  # the panel crashed; the app learns it when it is next awake: after a heartbeat
        finished: list[object] = []
        app.scheduler.run_finished.connect(finished.append)
        app.scheduler.run_heartbeat_now("default")
        qtbot.waitUntil(lambda: bool(finished), timeout=15000)
        qtbot.waitUntil(lambda: app.fallback is not None and app.fallback.isVisible(), timeout=3000)
        texts = " ".join(label.text() for label in app.fallback.findChildren(type(app.fallback.status)))
        assert "The system tray went away" in texts
        qtbot.waitUntil(lambda: app.fallback.threads.count() == 1, timeout=3000)  # the same controls
        tray["up"] = True  # the panel is back
        qtbot.waitUntil(lambda: app.fallback is None, timeout=3000)
        assert app.tray.icon.isVisible()
    finally:
        _stop(app)


# ------------------------------------------------------------------ 5. quit with unsaved editor text
def test_quit_with_unsaved_editor_text_says_the_app_stayed_and_discard_quits(
    qtbot, tray_app: TrayApp, ollama: OllamaServer
) -> None:
    """`quit` printed "asked Heartbeat Desktop to quit" while the editor's Save dialog kept the app running."""
    editor = tray_app.open_window("editor")
    assert isinstance(editor, EditorWindow)
    qtbot.waitUntil(lambda: not editor.loading and editor.text.toPlainText() != "", timeout=5000)
    on_disk = (tray_app.data_dir / "HEARTBEAT.md").read_text(encoding="utf-8")
    editor.text.setPlainText(on_disk + "\n- a line not saved yet\n")
    dialogs: list[str] = []  # a Save dialog is not the answer (it was, and blocked the test like the user)

    def dismiss() -> None:
        box = QApplication.activeModalWidget()
        if box is not None:
            dialogs.append(box.windowTitle())
            box.close()

    watch = QTimer()
    watch.timeout.connect(dismiss)
    watch.start(100)
    proc = _cli(tray_app.data_dir, "quit", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20000)
    out, err = proc.communicate()
    assert proc.returncode == 1 and out == "", (out, err)
    assert err.strip() == (
        "heartbeat-desktop: error: The app did not quit: the HEARTBEAT.md editor has unsaved changes — save or "
        "discard them, or run `heartbeat-desktop quit --discard`"
    )
    qtbot.wait(200)
    assert not tray_app._quitting and editor.isVisible() and editor.modified  # nothing lost
    assert dialogs == []  # and nothing asked: the command line said what to do
    proc = _cli(tray_app.data_dir, "quit", "--discard", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20000)
    out, err = proc.communicate()
    assert proc.returncode == 0 and "is quitting" in out, (out, err)
    qtbot.waitUntil(lambda: tray_app._quitting and not tray_app.scheduler.is_running, timeout=5000)
    assert (tray_app.data_dir / "HEARTBEAT.md").read_text(encoding="utf-8") == on_disk  # dropped, not saved


def test_quit_help_documents_discard(data_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "quit", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir)},
        timeout=60,
    )
    assert result.returncode == 0 and "--discard" in result.stdout and "unsaved changes" in result.stdout


def test_the_tray_watch_hears_the_status_notifier_watcher_leave_and_come_back(qtbot, tmp_path: Path) -> None:
    """No polling while the tray is there: the watcher's bus name leaving is what makes the app look (a panel
    that crashed), and its return what brings the icon back before the next slow look."""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    from heartbeat_desktop.qt.tray_wait import WATCHER
    from tests.support.xserver import require_tools, start_bus, stop

    require_tools(("dbus-daemon",))
    procs: list[subprocess.Popen] = []
    try:
        address = start_bus(procs)
        panel = open_dbus_connection(address)
        assert panel.send_and_get_reply(message_bus.RequestName(WATCHER, 4)).body[0] == 1
        tray = {"up": True}
        said: list[str] = []
        watch = TrayWait(0, lambda: tray["up"], grace_s=0.2, poll_ms=50, late_poll_ms=60_000)
        watch.found.connect(lambda: said.append("found"))
        watch.missing.connect(lambda: said.append("missing"))
        watch.start()
        watch.watch_bus(address)
        assert said == ["found"] and not watch.waiting
        tray["up"] = False
        panel.close()  # the panel crashed: its name leaves the bus
        qtbot.waitUntil(lambda: said == ["found", "missing"], timeout=5000)
        tray["up"] = True
        panel = open_dbus_connection(address)  # restarted: the name is back, long before the next 60 s look
        assert panel.send_and_get_reply(message_bus.RequestName(WATCHER, 4)).body[0] == 1
        qtbot.waitUntil(lambda: said == ["found", "missing", "found"], timeout=5000)
        panel.close()
    finally:
        stop(procs)
