"""Tray menu, icon states, notifications folding, fallback window and the single-instance channel,
with real widgets (offscreen), a real store and the real app wiring."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.notify import RESUME, Notice, notice_for
from heartbeat_desktop.core.scheduler_state import SchedulerState, ThreadSchedule
from heartbeat_desktop.instance_socket import request, server_name
from heartbeat_desktop.qt.app import TrayApp
from heartbeat_desktop.qt.icons import TrayState, state_icon
from heartbeat_desktop.qt.services.notifications import Notifier
from heartbeat_desktop.qt.tray import CRASH, HEALTH, TrayController, tooltip, tray_state
from heartbeat_desktop.qt.tray_menu import TrayActions, TrayMenu, fmt_time, status_line
from heartbeat_desktop.qt.window_manager import Refreshable, ShowsPost, ShowsRun, ShowsThreadFile
from heartbeat_desktop.secrets import PlaintextSecrets
from heartbeat_desktop.store import SqliteStore
from heartbeat_desktop.window_names import WINDOWS
from tests.conftest import GOOD_MD, REPO
from tests.support.ollama_server import OllamaServer, Reply


def ts(thread_id: str, **kw) -> ThreadSchedule:
    base = dict(
        thread_id=thread_id,
        title=thread_id.title(),
        enabled=True,
        paused=False,
        next_due=None,
        running=False,
        queued=False,
        last_status=None,
        last_reason=None,
        last_run_at=None,
        consecutive_failures=0,
        config=HeartbeatConfig(),
    )
    base.update(kw)
    return ThreadSchedule(**base)


def test_icons_exist_for_every_state(qtbot) -> None:
    for state in TrayState:
        assert not state_icon(state).isNull()
        assert state_icon(state).pixmap(64, 64).width() == 64


def test_state_mapping_and_tooltip() -> None:
    idle = SchedulerState(True, False, (ts("default", next_due=2_000_000_000.0, last_status="ok"),))
    assert tray_state(idle, None) is TrayState.IDLE
    running = SchedulerState(True, False, (ts("default", running=True),))
    assert tray_state(running, None) is TrayState.RUNNING
    assert tray_state(SchedulerState(True, True, ()), None) is TrayState.PAUSED
    failed = SchedulerState(True, False, (ts("work", last_status="failed", last_reason="cannot reach Ollama at x"),))
    assert tray_state(failed, None) is TrayState.ERROR
    assert tray_state(idle, "cannot reach the model server") is TrayState.ERROR
    tip = tooltip(failed, None)
    assert "Work: off, last failed: cannot reach Ollama at x" in tip
    assert "next" in tooltip(idle, None) and "last ok" in tooltip(idle, None)


def test_a_refusal_by_the_apps_own_rules_keeps_the_icon_calm() -> None:
    """Found by a new user (#27): with the nothing-new rule on (the default) a small model's runs were refused
    all day, and each turned the icon red with "Last heartbeat failed". A refusal is the app working."""
    reason = "refused: nothing new calls for this post (it cites only message 2, which the last heartbeat saw)"
    state = SchedulerState(
        True,
        False,
        (ts("rel", next_due=2_000_000_000.0, last_status="failed", last_reason=reason, last_error_kind="nothing_new"),),
    )
    assert tray_state(state, None) is TrayState.IDLE
    assert status_line(state, None).startswith("Next heartbeat at")
    flat = " ".join(tooltip(state, None).split())  # the tooltip wraps its lines
    assert f"Rel: next {fmt_time(2_000_000_000.0)}, last {reason}" in flat
    trouble = SchedulerState(True, False, (ts("rel", last_status="failed", last_error_kind="invalid_reply"),))
    assert tray_state(trouble, None) is TrayState.ERROR and status_line(trouble, None) == "Last heartbeat failed: Rel"
    # a server that could not be reached is the health check's to show: calm once it answers again (after Set
    # up, say), not only after the thread's next heartbeat
    down = SchedulerState(True, False, (ts("rel", last_status="failed", last_error_kind="unreachable"),))
    assert tray_state(down, None) is TrayState.IDLE and tray_state(down, "cannot reach Ollama") is TrayState.ERROR


def test_model_text_in_the_tray_and_fallback_window_is_never_markup(qtbot) -> None:
    """A failure reason quotes the model; `<font size=7>` must not fill the tooltip or the window."""
    from PySide6.QtCore import Qt

    from heartbeat_desktop.qt.windows.fallback_window import FallbackWindow

    reason = "invalid reply: no JSON object in '<font size=7>BIG</font><a href=x>click</a>'"
    failed = SchedulerState(True, False, (ts("work", last_status="failed", last_reason=reason),))
    tip = tooltip(failed, None)
    assert "<" not in tip and "\u2039font size=7\u203a" in " ".join(tip.split())  # wrapped at 80 characters
    window = FallbackWindow(_menu([])._actions)
    qtbot.addWidget(window)
    window.update_state(failed, "server said <b>no</b>")
    assert window.status.textFormat() == Qt.TextFormat.PlainText and "<b>no</b>" in window.status.text()


def _menu(calls: list, windows: dict | None = None, autostart: list | None = None) -> TrayMenu:
    autostart = autostart if autostart is not None else [False]
    return TrayMenu(
        TrayActions(
            run_now=lambda t: calls.append(("run", t)),
            toggle_pause=lambda: calls.append(("pause",)),
            windows=windows or {},
            autostart_enabled=lambda: autostart[0],
            set_autostart=lambda on: autostart.__setitem__(0, on),
            quit_app=lambda: calls.append(("quit",)),
        )
    )


def test_menu_items_and_actions(qtbot) -> None:
    calls: list = []
    autostart = [False]
    menu = _menu(calls, {"editor": lambda: calls.append(("editor",))}, autostart)
    qtbot.addWidget(menu)
    state = SchedulerState(True, False, (ts("default"), ts("work", running=True)))
    menu.update_state(state, None)
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Running 1 heartbeat…", "&Run now", "&Pause", "E&dit HEARTBEAT.md…", "Start at &login", "&Quit"]
    # no dead items: windows that do not exist yet have no entry
    assert not any("Feed" in t or "History" in t or "Settings" in t or "Threads" in t for t in texts)
    run_items = menu.run_menu.actions()
    assert [a.text() for a in run_items] == ["Default", "Work — running…"]
    assert run_items[0].isEnabled() and not run_items[1].isEnabled()
    run_items[0].trigger()
    menu.pause_action.trigger()
    menu.window_actions["editor"].trigger()
    menu.quit_action.trigger()
    assert calls == [("run", "default"), ("pause",), ("editor",), ("quit",)]
    menu.update_state(SchedulerState(True, True, ()), None)
    assert menu.pause_action.text() == "Resu&me" and menu.status_action.text() == "Paused"
    menu.aboutToShow.emit()
    assert not menu.autostart_action.isChecked()
    menu.autostart_action.trigger()
    assert autostart == [True]


def test_the_menu_keeps_its_width_whatever_its_first_line_says(qtbot) -> None:
    """#27 item 8: the menu shifted sideways as its first line changed length ("Paused", "Running 1
    heartbeat…", "Last heartbeat failed: …"); it is as wide as its widest usual line now, and longer ones are
    cut to it (the tooltip says them whole)."""
    menu = _menu([])
    qtbot.addWidget(menu)
    failing = tuple(ts(f"t{i}", last_status="failed") for i in range(6))
    states = [
        (SchedulerState(True, True, ()), None),
        (SchedulerState(True, False, (ts("default", running=True),)), None),
        (SchedulerState(True, False, failing), None),
        (SchedulerState(True, False, ()), "cannot reach Ollama at http://127.0.0.1:11434 and llama at http://x:8080"),
        (SchedulerState(False, False, ()), None),
    ]
    widths = set()
    for state, error in states:
        menu.update_state(state, error)
        widths.add(menu.sizeHint().width())
    assert len(widths) == 1, widths
    assert menu.status_action.text().startswith("Starting")
    menu.update_state(*states[3])
    assert menu.status_action.text().startswith("Error: cannot reach Ollama") and menu.status_action.text()[-1] == "…"


def test_a_failure_is_shown_at_once_and_a_burst_folds(qtbot) -> None:
    """The first failure used to be held (it arrived late); now it shows at once and the rest of a burst
    folds into one summary: a burst is two notifications at most."""
    notifier = Notifier(None, use_dbus=False, hold_ms=300)
    shown: list[Notice] = []
    notifier.shown.connect(shown.append)
    notifier.show(Notice("Heartbeat failed in a", "HTTP 500", critical=True, thread_id="a"))
    assert [n.title for n in shown] == ["Heartbeat failed in a"]  # at once, not after the window
    for thread in ("b", "c", "d"):
        notifier.show(Notice(f"Heartbeat failed in {thread}", "HTTP 500", critical=True, thread_id=thread))
    notifier.show(Notice("Daily summary", "All quiet."))
    qtbot.waitUntil(lambda: len(shown) == 3, timeout=2000)
    qtbot.wait(400)
    assert [n.title for n in shown] == ["Heartbeat failed in a", "Daily summary", "3 more heartbeats failed"]


def test_a_paused_thread_is_never_folded_into_a_burst(qtbot) -> None:
    """Found by a new user: five quick runs repeating a refused post — the 'paused' notice (with Resume)
    disappeared into '3 more heartbeats failed'."""
    config = HeartbeatConfig()
    notifier = Notifier(None, use_dbus=False, hold_ms=300)
    shown: list[Notice] = []
    notifier.shown.connect(shown.append)
    failed = RunRecord(
        id="r1",
        thread_id="a",
        trigger="manual",
        dry_run=False,
        started_at=0.0,
        status="failed",
        reason="refused: the same post as #1, made in the last 24 h",
        error_kind="duplicate",
    )
    paused = RunRecord(
        id="r2",
        thread_id="a",
        trigger="manual",
        dry_run=False,
        started_at=1.0,
        status="failed",
        reason="refused: the same post as #1, made in the last 24 h",
        error_kind="duplicate",
        paused_thread=True,
    )
    notifier.show(notice_for(failed, config, "A"))
    notifier.show(notice_for(failed, config, "A"))
    notifier.show(notice_for(paused, config, "A"))
    qtbot.waitUntil(lambda: any(n.title == "Heartbeats paused for A" for n in shown), timeout=2000)
    qtbot.wait(400)
    paused_notice = next(n for n in shown if n.title == "Heartbeats paused for A")
    assert RESUME in paused_notice.actions and paused_notice.critical
    # A refusal by the app's own rules is news, not a failure (#27): never "Heartbeat failed", never critical
    refusals = [n for n in shown if n is not paused_notice]
    assert refusals and all(n.title == "Nothing done in A" and not n.critical for n in refusals), shown
    assert "repeated a post" in refusals[0].body  # the advice fits the cause: not "the thread's limits"


@pytest.fixture
def app_env(data_dir: Path, ollama: OllamaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # Start at login writes under ~/.config
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    return data_dir


@pytest.fixture
def tray_app(qtbot, app_env: Path):
    app = QApplication.instance()
    tray_app = TrayApp(app, app_env, tray_wait_s=0)
    assert tray_app.start()
    qtbot.waitUntil(lambda: tray_app.scheduler.state.started, timeout=5000)
    yield tray_app
    tray_app.scheduler.stop()
    tray_app.instance.close()
    tray_app.signals.close()
    if tray_app.fallback is not None:
        tray_app.fallback.close()


def _cli(data_dir: Path, *args: str, host: str) -> subprocess.Popen:
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": host}
    return subprocess.Popen(
        [sys.executable, "-m", "heartbeat_desktop", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_no_tray_falls_back_to_a_window_and_scheduling_goes_on(qtbot, tray_app: TrayApp) -> None:
    # offscreen has no system tray: after the (here zero) wait the window appears with the same actions
    assert tray_app.fallback is not None and tray_app.fallback.isVisible()
    assert "No system tray" in tray_app.fallback.findChildren(type(tray_app.fallback.status))[0].text()
    assert tray_app.scheduler.is_running
    qtbot.waitUntil(lambda: tray_app.fallback.threads.count() == 1, timeout=3000)


def test_every_window_name_has_a_factory_and_opens(qtbot, tray_app: TrayApp) -> None:
    assert set(tray_app.window_factories) == set(WINDOWS)
    for name in WINDOWS:
        window = tray_app.open_window(name)
        assert window is not None and window.isVisible(), name
        assert tray_app.open_window(name) is window  # the same one is reused
        # what the app tells a window goes through these protocols: a renamed method fails here, where a
        # method name in a string would only have stopped notification clicks from landing
        assert isinstance(window, Refreshable) == (name in ("feed", "threads", "history")), name
        assert isinstance(window, ShowsRun) == (name == "history"), name
        assert isinstance(window, ShowsPost) == (name == "feed"), name
        assert isinstance(window, ShowsThreadFile) == (name == "editor"), name  # Open HEARTBEAT.md (#27 item 5)
        window.close()
    assert tray_app.open_window("nope") is None


def test_each_cause_clears_only_its_own_error_and_the_gravest_shows(qtbot) -> None:
    """Runs that cannot be recorded and a model server that does not answer can hold at once; the server
    coming back must not hide that heartbeats still cannot be recorded (the tray once kept one text)."""
    controller = TrayController(_menu([]))
    controller.set_error(HEALTH, "cannot reach the model server at http://127.0.0.1:9")
    controller.set_error(CRASH, "heartbeats cannot run: the database is newer")
    assert controller.error == "heartbeats cannot run: the database is newer"
    assert "database is newer" in controller.icon.toolTip()
    controller.set_error(HEALTH, None)  # the server answers again
    assert controller.error == "heartbeats cannot run: the database is newer"
    controller.set_error(HEALTH, "cannot reach the model server at http://127.0.0.1:9")
    controller.set_error(CRASH, None)  # a run was recorded again
    assert controller.error == "cannot reach the model server at http://127.0.0.1:9"
    assert controller.current is TrayState.ERROR
    controller.set_error(HEALTH, None)
    assert controller.error is None


def test_cli_run_now_is_carried_out_by_the_running_app(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    post = {"action": "post", "rule": 1, "title": "From the tray", "content": "c", "reason": "r"}
    ollama.script(Reply(json.dumps(post)))
    shown: list[Notice] = []
    tray_app.notifier.shown.connect(shown.append)
    proc = _cli(tray_app.data_dir, "run-now", "--json", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "ok" and result["action"]["title"] == "From the tray"
    with sqlite3.connect(tray_app.data_dir / "heartbeat.db") as db:
        pid = db.execute("SELECT pid FROM runs WHERE id = ?", (result["run_id"],)).fetchone()[0]
    assert pid == os.getpid()  # written by the app, not by the CLI process
    qtbot.waitUntil(lambda: any(n.title == "Default: From the tray" for n in shown), timeout=3000)


def test_the_app_reads_stored_keys_at_start_and_its_runs_use_them(qtbot, app_env: Path, ollama: OllamaServer) -> None:
    """A key stored for Ollama (behind a proxy) is read off the run path when the app starts; the run then
    sends it. (No keyring on this test bus: the opted-in plaintext file stands in for it.)"""
    PlaintextSecrets(app_env).set("ollama", "proxy-key")
    store = SqliteStore(app_env / "heartbeat.db")
    store.providers.set_key_state("ollama", True)
    store.close()
    ollama.required_key = "proxy-key"
    ollama.script(Reply(json.dumps({"action": "post", "rule": 1, "title": "Keyed", "content": "c", "reason": "r"})))
    tray_app = TrayApp(QApplication.instance(), app_env, tray_wait_s=0)
    try:
        assert tray_app.start()
        qtbot.waitUntil(lambda: "ollama" in tray_app.key_cache._lookups, timeout=5000)
        proc = _cli(app_env, "run-now", "--json", host=ollama.url)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
        out, err = proc.communicate()
        assert json.loads(out)["status"] == "ok", out + err
        headers = {k.lower(): v for k, v in ollama.chat_requests()[-1].headers.items()}
        assert headers["authorization"] == "Bearer proxy-key"
    finally:
        tray_app.scheduler.stop()
        tray_app.instance.close()
        tray_app.signals.close()
        if tray_app.fallback is not None:
            tray_app.fallback.close()


def test_cli_unknown_thread_via_the_app_is_a_usage_error(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    proc = _cli(tray_app.data_dir, "run-now", "--thread", "nope", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 2 and "no thread 'nope'" in proc.stderr.read()


def test_second_launch_raises_the_first_and_exits(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    # offscreen has no tray: the first app shows its fallback window, which a second launch raises again
    assert tray_app.fallback is not None
    tray_app.fallback.hide()
    proc = _cli(tray_app.data_dir, host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0 and "already running" in proc.stderr.read()
    qtbot.waitUntil(tray_app.fallback.isVisible, timeout=5000)


def test_instance_names_differ_per_data_dir(tmp_path: Path) -> None:
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a" / ".." / "a")


def test_unreachable_ollama_gives_error_state_and_one_notification(
    qtbot, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    app = TrayApp(QApplication.instance(), app_env, tray_wait_s=0)
    shown: list[Notice] = []
    app.notifier._hold.setInterval(50)
    app.notifier.shown.connect(shown.append)
    try:
        assert app.start()
        qtbot.waitUntil(lambda: app.health.reachable is False, timeout=5000)
        assert app.tray.current is TrayState.ERROR and "127.0.0.1:9" in app.tray.icon.toolTip()
        for _ in range(2):  # failing heartbeats while down stay quiet
            app.scheduler.run_heartbeat_now("default")
            qtbot.wait(400)
        qtbot.waitUntil(lambda: len(shown) >= 1, timeout=3000)
        qtbot.wait(300)
        assert [n.title for n in shown] == ["Heartbeat Desktop cannot reach Ollama"]
    finally:
        app.scheduler.stop()
        app.instance.close()
        app.signals.close()
        if app.fallback is not None:
            app.fallback.close()


def test_open_subcommand_shows_the_window_in_the_running_app(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    proc = _cli(tray_app.data_dir, "open", "history", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0
    qtbot.waitUntil(lambda: (w := tray_app.window_manager.get("history")) is not None and w.isVisible(), timeout=3000)
    assert set(tray_app.menu.window_actions) == {"threads", "feed", "history", "editor", "settings", "setup"}
    proc = _cli(tray_app.data_dir, "open", "setup", host=ollama.url)  # the first-run window, any time
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0
    qtbot.waitUntil(lambda: (w := tray_app.window_manager.get("setup")) is not None and w.isVisible(), timeout=3000)
    tray_app.window_manager.focus_post(1)  # a notification's "Open" shows the feed
    assert tray_app.window_manager.get("feed").isVisible()
    for window in [tray_app.window_manager.get(n) for n in tray_app.window_manager.names()]:
        window.close()


def test_close_subcommand_closes_and_frees_the_window(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """Closed is gone: the window is deleted (its memory freed) and the next open builds a new one."""
    import weakref

    window = tray_app.open_window("threads")
    assert window is not None and window.isVisible()
    gone = weakref.ref(window)
    destroyed: list[bool] = []
    window.destroyed.connect(lambda: destroyed.append(True))
    del window
    proc = _cli(tray_app.data_dir, "close", "threads", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0 and proc.stdout.read().strip() == "closed threads"
    qtbot.waitUntil(lambda: destroyed == [True] and "threads" not in tray_app.window_manager.names(), timeout=3000)
    import gc

    gc.collect()
    assert gone() is None
    again = _cli(tray_app.data_dir, "close", "threads", host=ollama.url)
    qtbot.waitUntil(lambda: again.poll() is not None, timeout=15000)
    assert again.stdout.read().strip() == "threads was not open"
    reopened = tray_app.open_window("threads")
    assert reopened is not None and reopened.isVisible()
    reopened.close()


def test_a_new_ollama_host_is_checked_at_once(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """`settings set ollama_host` tells the app to re-read; the tray must not stay green for the old server
    until someone opens its menu."""
    qtbot.waitUntil(lambda: tray_app.health.reachable is True, timeout=5000)
    proc = _cli(tray_app.data_dir, "settings", "set", "ollama_host", "http://127.0.0.1:9", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0
    qtbot.waitUntil(lambda: tray_app.health.reachable is False, timeout=5000)
    assert tray_app.health.ollama_url == "http://127.0.0.1:9" and "127.0.0.1:9" in str(tray_app.tray.error)


def test_quit_subcommand_quits_the_running_app(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    proc = _cli(tray_app.data_dir, "quit", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None and tray_app._quitting, timeout=15000)
    assert proc.returncode == 0 and "is quitting" in proc.stdout.read()  # the app's answer, not a hope
    qtbot.waitUntil(lambda: not tray_app.scheduler.is_running, timeout=3000)


def test_cli_changes_are_picked_up_by_the_running_app(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    proc = _cli(tray_app.data_dir, "threads", "add", "garden", "--title", "Garden", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert proc.returncode == 0
    qtbot.waitUntil(lambda: tray_app.scheduler.state.thread("garden") is not None, timeout=5000)
    proc = _cli(tray_app.data_dir, "config", "set", "--thread", "garden", "every_seconds", "600", host=ollama.url)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    qtbot.waitUntil(lambda: tray_app.scheduler.state.thread("garden").config.every_seconds == 600, timeout=5000)
    assert [a.text() for a in tray_app.menu.run_menu.actions()] == ["Default", "Garden"]


@pytest.mark.parametrize("damage", ["corrupt", "a directory"])
def test_an_unusable_database_stops_the_app_with_a_message_and_is_left_alone(
    qtbot, app_env: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """It used to abort (SIGABRT, 'QThread destroyed while running') with no word to the user."""
    from PySide6.QtCore import QTimer

    from heartbeat_desktop.qt.launch import run_tray

    db = app_env / "heartbeat.db"
    if damage == "corrupt":
        db.write_bytes(b"this is not a database " * 200)
    else:
        db.mkdir()
    before = db.read_bytes() if db.is_file() else None
    shown: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(50, answer)
            return
        shown.append(box.text())
        box.accept()

    QTimer.singleShot(50, answer)
    assert run_tray([]) == 1
    assert shown and "The file was left as it is" in shown[0] and str(db) in shown[0]
    assert "cannot open database" in capsys.readouterr().err
    assert (db.read_bytes() if db.is_file() else None) == before
    assert not (app_env / "heartbeat.db-wal").exists()


@pytest.mark.parametrize("how", ["quit command", "SIGTERM"])
def test_quitting_is_clean(data_dir: Path, how: str) -> None:
    """`heartbeat-desktop quit` logged two tracebacks every time (a socket and a timer already deleted)."""
    import signal
    import time

    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    env = {
        **os.environ,
        "HEARTBEAT_DATA_DIR": str(data_dir),
        "QT_QPA_PLATFORM": "offscreen",
        "HEARTBEAT_TRAY_WAIT": "0",
    }
    app = subprocess.Popen(
        [sys.executable, "-m", "heartbeat_desktop"], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while _cli(data_dir, "status", host="http://127.0.0.1:9").wait(30) != 0 or not list(
            (data_dir / "logs").glob("*.log")
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        log = next((data_dir / "logs").glob("*.log"))
        while "started (data in" not in log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        if how == "SIGTERM":
            app.send_signal(signal.SIGTERM)
        else:
            quitter = _cli(data_dir, "quit", host="http://127.0.0.1:9")
            assert quitter.wait(30) == 0
        assert app.wait(15) == 0
        stderr = app.stderr.read()
    finally:
        if app.poll() is None:
            app.kill()
    text = log.read_text()
    assert "Traceback" not in stderr + text and "ERROR" not in stderr + text, stderr + text


def test_status_is_the_running_apps_view(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """After pausing from the tray, `status` said "paused": false and showed this shell's OLLAMA_HOST."""
    qtbot.waitUntil(lambda: tray_app.health.reachable is not None, timeout=5000)
    tray_app.toggle_pause()
    qtbot.waitUntil(lambda: tray_app.scheduler.state.paused, timeout=3000)
    proc = _cli(tray_app.data_dir, "status", "--json", host="http://127.0.0.1:9")  # another host in this shell
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    out, err = proc.communicate()
    status = json.loads(out or err)
    assert status["app_running"] is True and status["app_pid"] == os.getpid() and status["paused"] is True
    assert status["ollama_host"] == ollama.url
    tray_app.toggle_pause()
    qtbot.waitUntil(lambda: not tray_app.scheduler.state.paused, timeout=3000)
    proc = _cli(tray_app.data_dir, "status", "--json", host="http://127.0.0.1:9")
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    resumed = json.loads(proc.communicate()[0])
    assert resumed["paused"] is False and resumed["threads"][0]["next_due_at"] is not None


def test_the_tray_tells_the_truth_promptly(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """Which thread made the icon red; threads named alike everywhere; long reasons kept; a left click
    opens History; looking at the menu re-checks the model server (nothing polls between heartbeats)."""
    long_reason = "invalid reply: " + "the model wrote prose instead of a decision " * 3
    failed = SchedulerState(
        True,
        False,
        (
            ts("default", title="Default", last_status="ok"),
            ts("work", title="Work stuff", last_status="failed", last_reason=long_reason),
        ),
    )
    tray_app.tray.update(failed)
    assert tray_app.menu.status_action.text() == "Last heartbeat failed: Work stuff"
    assert long_reason.strip() in " ".join(tray_app.tray.icon.toolTip().split())  # wrapped, not cut
    assert [a.text() for a in tray_app.menu.run_menu.actions()] == ["Default", "Work stuff"]
    tray_app.tray.update(
        SchedulerState(True, False, (ts("a", title="Notes"), ts("b", title="Notes"), ts("c", title="Home")))
    )
    assert [a.text() for a in tray_app.menu.run_menu.actions()] == ["Notes (a)", "Notes (b)", "Home"]

    tray_app.tray.activated_primary.emit()
    qtbot.waitUntil(lambda: (w := tray_app.window_manager.get("history")) is not None and w.isVisible(), timeout=3000)

    qtbot.waitUntil(lambda: tray_app.health.reachable is True, timeout=5000)
    ollama.stop()  # the server goes away between heartbeats
    tray_app.health._checked_at = float("-inf")
    tray_app.menu.aboutToShow.emit()
    qtbot.waitUntil(lambda: tray_app.health.reachable is False, timeout=5000)
    assert tray_app.tray.error and f"cannot reach Ollama at {ollama.url}" in tray_app.tray.icon.toolTip()


def test_heartbeat_ok_is_said_once() -> None:
    from heartbeat_desktop.cli import describe_run
    from heartbeat_desktop.core.models import RunRecord

    run = RunRecord("r", "default", "manual", False, 0.0, status="ok", reason="HEARTBEAT_OK")
    run.decision = {"action": "none", "reason": "HEARTBEAT_OK"}
    assert describe_run(run).count("HEARTBEAT_OK") == 1


def test_the_instance_socket_comes_back_after_qt_gave_up_on_it(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """Found by the re-check: starved of descriptors through the instance socket itself, Qt closed it for
    good (no signal), the CLI said 'not running' and `open` started a second app. A finished heartbeat
    (or opening the menu) now makes the app listen again."""
    tray_app.instance._server.close()  # what Qt does after a failed accept
    assert request(server_name(tray_app.data_dir), {"cmd": "raise"}, timeout_s=1.0) is None
    ollama.script(Reply("HEARTBEAT_OK"))
    finished: list[object] = []
    tray_app.scheduler.run_finished.connect(finished.append)
    tray_app.scheduler.run_heartbeat_now("default")
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)
    qtbot.waitUntil(lambda: tray_app.instance._server.isListening(), timeout=3000)
    proc = _cli(tray_app.data_dir, "status", "--json", host=ollama.url)  # the CLI finds the app again
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
    assert json.loads(proc.communicate()[0])["app_running"] is True


def test_models_are_released_after_a_heartbeat_and_on_demand(qtbot, tray_app: TrayApp, ollama: OllamaServer) -> None:
    """A heartbeat every 30 minutes held the model in the server's memory for Ollama's default 5 minutes
    after each run; now it is released at once unless the user says otherwise, and the tray can free
    whatever is loaded."""
    ollama.script(Reply("HEARTBEAT_OK"))
    finished: list[object] = []
    tray_app.scheduler.run_finished.connect(finished.append)
    tray_app.scheduler.run_heartbeat_now("default")
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)
    assert ollama.chat_requests()[-1].body["keep_alive"] == 0 and ollama.loaded == set()
    ollama.loaded.add("qwen3:4b")  # loaded by something else (the user's own chat)
    assert "&Unload models now" in [a.text() for a in tray_app.menu.actions()]
    shown: list[Notice] = []
    tray_app.notifier.shown.connect(shown.append)
    tray_app.menu.unload_action.trigger()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert ollama.loaded == set() and shown[0].title == "Models unloaded" and "qwen3:4b" in shown[0].body
    tray_app.menu.unload_action.trigger()  # again, with nothing loaded: the title says so (#27 item 8)
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=5000)
    assert shown[1].title == "No model was loaded" and shown[1].body == f"Ollama at {ollama.url}: no model was loaded"
    # the no-tray window offers it too (#27 item 8: it was missing there)
    ollama.loaded.add("llama3.2:latest")
    assert tray_app.fallback is not None and tray_app.fallback.unload_button is not None
    tray_app.fallback.unload_button.click()
    qtbot.waitUntil(lambda: len(shown) == 3, timeout=5000)
    assert ollama.loaded == set() and shown[2].title == "Models unloaded" and "llama3.2:latest" in shown[2].body


def test_keep_alive_is_a_setting(qtbot, app_env: Path, ollama: OllamaServer) -> None:
    from heartbeat_desktop import wiring

    store = SqliteStore(app_env / "heartbeat.db")
    try:
        store.settings.set("model_keep_alive", "5m")
        ollama.script(Reply("HEARTBEAT_OK"))
        wiring.make_runner(store, app_env).run("default")
        assert ollama.chat_requests()[-1].body["keep_alive"] == "5m" and ollama.loaded
        store.settings.set("model_keep_alive", "300")
        ollama.script(Reply("HEARTBEAT_OK"))
        wiring.make_runner(store, app_env).run("default", trigger="manual")
        assert ollama.chat_requests()[-1].body["keep_alive"] == 300  # seconds, as a number Ollama reads
    finally:
        store.close()


def test_the_cli_pauses_resumes_and_unloads_through_the_running_app(
    qtbot, tray_app: TrayApp, ollama: OllamaServer
) -> None:
    """#23: the app's verbs are the same whoever asks; `pause`, `resume` and `unload-models` from a shell go
    to the running app (its scheduler, its notification), not around it."""

    def run(*args: str) -> str:
        proc = _cli(tray_app.data_dir, *args, host=ollama.url)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20000)
        assert proc.returncode == 0, proc.stderr.read()
        return proc.stdout.read()

    assert run("resume").strip() == "heartbeats already running"  # nothing changed: said so
    assert run("pause").strip() == "heartbeats paused"
    qtbot.waitUntil(lambda: tray_app.scheduler.state.paused, timeout=5000)
    assert run("pause").strip() == "heartbeats already paused"
    assert tray_app.scheduler.state.paused
    assert run("resume").strip() == "heartbeats resumed"
    qtbot.waitUntil(lambda: not tray_app.scheduler.state.paused, timeout=5000)
    ollama.loaded.add("qwen3:4b")
    shown: list[Notice] = []
    tray_app.notifier.shown.connect(shown.append)
    assert "asked Heartbeat Desktop to unload" in run("unload-models")
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert ollama.loaded == set() and shown[0].title == "Models unloaded"


def _only_provider(data_dir: Path, url: str) -> None:
    """Every thread on provider `llama` (an OpenAI-compatible server), none on the app's Ollama."""
    store = SqliteStore(data_dir / "heartbeat.db")
    try:
        store.providers.save("llama", "openai", url)
        for thread in store.threads.list():
            store.threads.set_config(thread.id, thread.config.with_updates(model="llama:smollm2"))
    finally:
        store.close()


def test_with_only_an_openai_compatible_server_the_app_is_green(
    qtbot, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """#24: with every thread on an OpenAI-compatible server and no Ollama, the icon was red and every start
    said "cannot reach Ollama". Only the servers in use are asked; when that one goes down, it is the one
    named (tray, notification, status), with its URL."""
    from tests.support.provider_servers import ProviderServer

    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing there, and nobody uses it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = ProviderServer("openai", key=None, models=("smollm2",))
    _only_provider(data_dir, server.base_url)
    app = TrayApp(QApplication.instance(), data_dir, tray_wait_s=0)
    shown: list[Notice] = []
    app.notifier.shown.connect(shown.append)
    try:
        assert app.start()
        qtbot.waitUntil(lambda: app.health.reachable is True, timeout=10000)
        assert list(app.health.servers) == ["llama"] and app.tray.current is not TrayState.ERROR
        status = app.live_status()
        assert status["ollama_host"] is None and status["server_problem"] is None
        servers = status["model_servers"]
        assert isinstance(servers, list) and [(s["provider"], s["url"], s["reachable"]) for s in servers] == [
            ("llama", server.base_url, True)
        ]
        server.stop()
        app.health.check()
        qtbot.waitUntil(lambda: app.health.reachable is False, timeout=10000)
        assert app.tray.current is TrayState.ERROR
        assert f"cannot reach llama at {server.base_url}" in app.tray.icon.toolTip()
        qtbot.waitUntil(lambda: bool(shown), timeout=5000)
        assert [n.title for n in shown] == ["Heartbeat Desktop cannot reach llama"] and server.base_url in shown[0].body
    finally:
        app.scheduler.stop()
        app.instance.close()
        app.signals.close()
        if app.fallback is not None:
            app.fallback.close()


def test_with_two_servers_in_use_the_one_down_is_the_one_named(qtbot, app_env: Path, ollama: OllamaServer) -> None:
    store = SqliteStore(app_env / "heartbeat.db")
    try:
        store.providers.save("llama", "openai", "http://127.0.0.1:9/v1")  # down
        store.threads.create("work", "Work")
        work = store.threads.require("work")
        store.threads.set_config("work", work.config.with_updates(model="llama:smollm2"))
    finally:
        store.close()
    app = TrayApp(QApplication.instance(), app_env, tray_wait_s=0)
    try:
        assert app.start()
        qtbot.waitUntil(lambda: app.health.reachable is False, timeout=10000)
        assert {name: s.reachable for name, s in app.health.servers.items()} == {"ollama": True, "llama": False}
        assert app.tray.error == "cannot reach llama at http://127.0.0.1:9/v1"
        proc = _cli(app_env, "status", host=ollama.url)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20000)
        out = proc.stdout.read()
        # Nothing polls a server that answers: the line says when that was, not a present tense (#27)
        answered = rf"Model server: Ollama at {re.escape(ollama.url)} — answered when the app last checked \(\d"
        assert re.search(answered, out)
        assert {s["provider"]: s["checked_at"] is not None for s in app.live_status()["model_servers"]} == {
            "ollama": True,
            "llama": True,
        }
        assert "Model server: llama at http://127.0.0.1:9/v1 — NOT reachable: cannot reach llama" in out
        assert re.search(r"NOT reachable: cannot reach llama .*\(the app last checked at \d{4}-", out), out  # when
    finally:
        app.scheduler.stop()
        app.instance.close()
        app.signals.close()
        if app.fallback is not None:
            app.fallback.close()


def test_a_snoozed_thread_is_said_in_the_fallback_window_with_its_own_resume(qtbot) -> None:
    """Without a tray the window stands in: it says until when a thread is snoozed and resumes it itself."""
    from dataclasses import replace

    from heartbeat_desktop.qt.windows.fallback_window import FallbackWindow

    resumed: list[str] = []
    window = FallbackWindow(replace(_menu([])._actions, resume_snoozed=resumed.append))
    qtbot.addWidget(window)
    window.show()
    until = 2_000_000_000.0
    snoozed = SchedulerState(True, False, (ts("work", next_due=until, snoozed_until=until), ts("home")))
    window.update_state(snoozed, None)
    assert window.status.text() == f"Work snoozed until {fmt_time(until)} — Resume in this window"
    assert window.resume_snoozed.isVisible()
    window.resume_snoozed.click()
    assert resumed == ["work"]
    window.update_state(SchedulerState(True, False, (ts("work", next_due=until), ts("home"))), None)
    assert not window.resume_snoozed.isVisible() and "snoozed" not in window.status.text()
