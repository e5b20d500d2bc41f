"""Notifications you can act on, and notifications held during Do Not Disturb: the real app, a real store,
the loopback Ollama-protocol server, and the real dunst daemon choosing actions from its own menu."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from heartbeat_desktop.core.notify import HISTORY, OPEN, RETRY, SNOOZE, UNDO, Notice
from heartbeat_desktop.core.presence import PresenceState
from heartbeat_desktop.presence.dbus import DoNotDisturb
from heartbeat_desktop.qt.app import TrayApp
from heartbeat_desktop.qt.services.notifications import Notifier
from heartbeat_desktop.qt.windows.editor_window import EditorWindow
from heartbeat_desktop.qt.windows.history_window import HistoryWindow
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD
from tests.support.citing import Act
from tests.support.dunst import Dunst, running_dunst
from tests.support.ollama_server import Error, OllamaServer, Reply
from tests.support.presence import FakePresence

POST = json.dumps({"action": "post", "rule": 1, "title": "Standup notes", "content": "Three items.", "reason": "r"})


def test_notices_are_held_during_do_not_disturb_and_summed_up_after(qtbot) -> None:
    dnd = FakePresence(PresenceState(do_not_disturb=True))
    notifier = Notifier(None, use_dbus=False, dnd=dnd, dnd_poll_ms=100)
    shown: list[Notice] = []
    held: list[Notice] = []
    notifier.shown.connect(shown.append)
    notifier.held.connect(held.append)
    notifier.show(Notice("Work: Standup notes", "Three items.", thread_id="work", post_id=1))
    notifier.show(Notice("Heartbeat failed in Home", "HTTP 500", critical=True, thread_id="home"))
    qtbot.waitUntil(lambda: len(held) == 2, timeout=2000)
    qtbot.wait(300)  # several looks at the setting while it stays on
    assert shown == [] and dnd.reads >= 3
    dnd.set(do_not_disturb=False)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    summary = shown[0]
    assert summary.title == "While Do Not Disturb was on: 1 update and 1 failure"
    assert summary.body.splitlines() == ["Work: Standup notes", "Heartbeat failed in Home"]
    assert summary.actions == (HISTORY,)
    reads = dnd.reads
    qtbot.wait(300)
    assert dnd.reads == reads  # nothing held: the setting is not looked at again (no idle wake-ups)
    notifier.show(Notice("Work: later", "x"))
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)
    assert shown[1].title == "Work: later"  # shown as it comes, in order
    notifier.close()


def test_an_unknown_or_broken_dnd_source_holds_nothing(qtbot) -> None:
    class Broken:
        def read(self) -> PresenceState:
            raise OSError("no bus")

    for source in (FakePresence(), Broken()):
        notifier = Notifier(None, use_dbus=False, dnd=source)
        shown: list[Notice] = []
        notifier.shown.connect(shown.append)
        notifier.show(Notice("Work: x", "y"))
        qtbot.waitUntil(lambda s=shown: len(s) == 1, timeout=2000)
        notifier.close()


def test_a_balloon_click_does_the_default_action(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    # The balloon (no freedesktop server: Windows, macOS, bare X) has no buttons. Offscreen Qt has no
    # balloons at all, so that one answer is stubbed; the click is Qt's own signal.
    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))
    icon = QSystemTrayIcon()
    notifier = Notifier(icon, use_dbus=False)
    asked: list[tuple[str, Notice]] = []
    notifier.action_requested.connect(lambda key, notice: asked.append((key, notice)))
    post = Notice("Work: x", "y", thread_id="work", post_id=7, actions=(UNDO, SNOOZE))
    notifier.show(post)
    icon.messageClicked.emit()
    failure = Notice("Heartbeat failed in Work", "HTTP 500", critical=True, thread_id="work", actions=(RETRY, HISTORY))
    notifier.show(failure)
    icon.messageClicked.emit()
    assert asked == [(OPEN, post), (HISTORY, failure)]
    notifier.close()


# ---------------------------------------------------------------------------------------------- real dunst
@pytest.fixture
def dunst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dunst]:
    with running_dunst(tmp_path) as daemon:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.env["DBUS_SESSION_BUS_ADDRESS"])
        yield daemon


@pytest.fixture
def app(qtbot, data_dir: Path, ollama: OllamaServer, dunst: Dunst, monkeypatch, tmp_path: Path) -> Iterator[TrayApp]:
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    tray_app = TrayApp(QApplication.instance(), data_dir, tray_wait_s=0, presence=None, dnd=DoNotDisturb(environ={}))
    assert tray_app.start()
    qtbot.waitUntil(lambda: tray_app.scheduler.state.started, timeout=5000)
    qtbot.waitUntil(lambda: tray_app.notifier.backend.available is True, timeout=5000)
    yield tray_app
    tray_app.notifier.close()
    tray_app.scheduler.stop()
    tray_app.instance.close()
    tray_app.signals.close()
    for window in QApplication.topLevelWidgets():
        window.close()


def _run(qtbot, app: TrayApp, thread: str = "default") -> None:
    finished: list[object] = []
    app.scheduler.run_finished.connect(finished.append)
    app.scheduler.run_heartbeat_now(thread)
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)


def test_undo_from_the_notification_takes_the_post_back(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    store = SqliteStore(app.db_path)
    try:
        [post] = store.feed.posts()
        dunst.choose("Undo")
        qtbot.waitUntil(lambda: store.feed.posts() == [], timeout=5000)
        assert [row["kind"] for row in store.feed.undo_log(post.run_id)] == ["post"]  # on record, not lost
        qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)  # #27: it stayed up after Undo
    finally:
        store.close()


def test_not_useful_from_the_notification_is_kept_with_the_run(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    """#26 item 1: the user's word on a post, from the real notification server's menu; the post stays."""
    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    store = SqliteStore(app.db_path)
    try:
        [post] = store.feed.posts()
        dunst.choose("Not useful")
        qtbot.waitUntil(lambda: bool(store.feedback.for_run(post.run_id)), timeout=5000)
        [event] = store.feedback.for_run(post.run_id)
        assert (event.kind, event.source, event.reason) == ("not_useful", "notification", None)
        assert [p.id for p in store.feed.posts()] == [post.id]  # not taken back: only judged
        assert store.feedback.act_on().rejected == 1
    finally:
        store.close()


def test_snooze_from_the_notification_puts_the_thread_off_an_hour(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    before = time.time()
    dunst.choose("Snooze")
    qtbot.waitUntil(lambda: (app.scheduler.state.thread("default").next_due or 0) >= before + 3600, timeout=5000)
    store = SqliteStore(app.db_path)
    try:  # kept across a restart like a busy deferral
        assert store.runs.state("default").defer_until >= before + 3600
    finally:
        store.close()


def test_a_snooze_is_confirmed_with_until_when_and_taken_back_from_the_menu(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    """Found living with the app: Snooze said nothing. Now, as a pause is shown, the tray's first line and
    tooltip say until when and where to resume, a short notification says so once, and the menu's
    "Resume …" takes the snooze back."""
    from heartbeat_desktop.qt.tray_menu import fmt_time

    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    shown: list[Notice] = []
    app.notifier.shown.connect(shown.append)
    before = time.time()
    dunst.choose("Snooze")
    qtbot.waitUntil(lambda: any("snoozed until" in n.title for n in shown), timeout=5000)
    until = app.scheduler.state.thread("default").snoozed_until
    assert until is not None and until >= before + 3600
    when = fmt_time(until)
    (notice,) = [n for n in shown if "snoozed until" in n.title]
    assert notice.title == f"Default snoozed until {when}" and "Resume Default in the tray menu" in notice.body
    qtbot.waitUntil(lambda: dunst.count("displayed") >= 1, timeout=5000)  # shown by the desktop's server
    line = f"Snoozed until {when} — Resume in the menu"
    assert app.tray.icon.toolTip().startswith(f"Heartbeat Desktop — {line}")
    assert f"Default: snoozed until {when}" in app.tray.icon.toolTip()
    assert app.menu.status_action.text() == line
    (resume,) = app.menu.snooze_actions
    assert resume.text().replace("&", "") == f"Resume Default (snoozed until {when})"
    assert app.menu.actions().index(resume) == app.menu.actions().index(app.menu.pause_action) + 2  # after Unload
    resume.trigger()
    qtbot.waitUntil(lambda: app.scheduler.state.thread("default").snoozed_until is None, timeout=5000)
    assert (app.scheduler.state.thread("default").next_due or 0) < before + 3600  # its own plan again
    assert "snoozed" not in app.tray.icon.toolTip().lower() and not app.menu.snooze_actions


def test_retry_from_a_failure(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    ollama.script(Error(500, "model crashed"), Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    finished: list[object] = []
    app.scheduler.run_finished.connect(finished.append)
    dunst.choose("Retry")
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)
    assert finished[0].status == "ok" and finished[0].trigger == "manual"
    assert sum("Open history" in line for line in dunst.menu_shown()) == 1, dunst.menu_shown()  # #27: was twice


def test_open_history_from_a_failure_shows_the_run_and_takes_the_notification_down(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    ollama.script(Error(500, "model crashed"))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    failed_id = next(r.id for _i, r in app.gui_store.runs.page(None, "failed", None, 5))
    dunst.choose("Open history")
    qtbot.waitUntil(lambda: isinstance(app.window_manager.get("history"), HistoryWindow), timeout=5000)
    window = app.window_manager.get("history")
    qtbot.waitUntil(lambda: bool(window.table.selectionModel().selectedRows()), timeout=5000)
    assert window.model.run_at(window.table.selectionModel().selectedRows()[0].row()).id == failed_id
    qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)  # #27: it stayed up after its button


def test_a_missing_heartbeat_md_is_notified_with_open_heartbeat_md_and_never_replaced(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst, tmp_path: Path
) -> None:
    """#27 item 5: a workspace thread whose HEARTBEAT.md is gone fails (the model is never asked), the notification
    offers Open HEARTBEAT.md instead of a Retry that would fail the same way, and it opens the editor on that
    thread's file with "Create it from the template" — nothing is created until the user presses it."""
    workspace = tmp_path / "proj"
    workspace.mkdir()
    app.gui_store.threads.create("proj", "Project", workspace)
    app.scheduler.reload()
    _run(qtbot, app, "proj")
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    assert ollama.chat_requests() == [] and not (workspace / "HEARTBEAT.md").exists()
    [failed] = [r for _i, r in app.gui_store.runs.page(None, "failed", None, 5)]
    assert failed.error_kind == "heartbeat_md" and "offers to create it from the template" in failed.reason
    dunst.choose("Open HEARTBEAT.md")
    qtbot.waitUntil(lambda: isinstance(app.window_manager.get("editor"), EditorWindow), timeout=5000)
    editor = app.window_manager.get("editor")
    qtbot.waitUntil(lambda: editor.thread_box.currentData() == "proj" and not editor.loading, timeout=5000)
    assert editor.create_button.isVisible() and str(workspace / "HEARTBEAT.md") in editor.path_label.text()
    assert "Retry" not in " ".join(dunst.menu_shown())
    assert not (workspace / "HEARTBEAT.md").exists()


def test_do_not_disturb_in_dunst_holds_notifications_until_it_is_off(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    app.notifier._dnd_poll.setInterval(200)
    dunst.ctl("set-paused", "true")
    ollama.script(Act(POST), Error(500, "boom"))
    _run(qtbot, app)
    app.gui_store.threads.add_message("default", "new")
    _run(qtbot, app)
    qtbot.wait(500)
    assert dunst.count("waiting") == 0 and dunst.count("displayed") == 0  # nothing even sent
    dunst.ctl("set-paused", "false")
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    dunst.ctl("close-all")
    assert dunst.history_summaries() == ["While Do Not Disturb was on: 1 update and 1 failure"]


def test_the_app_setting_turns_holding_off(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    app.gui_store.settings.set("hold_during_dnd", "off")
    app._settings_applied()
    dunst.ctl("set-paused", "true")
    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("waiting") == 1, timeout=5000)  # sent; dunst holds it itself


def test_the_cannot_reach_notice_is_taken_down_when_the_server_is_back(qtbot, app: TrayApp, dunst) -> None:
    """Found by a new user: the critical 'cannot reach Ollama' stayed on screen for ten minutes after the
    server was back, and after the app quit."""
    qtbot.waitUntil(lambda: app.health.reachable is True, timeout=5000)  # the start-up check is done
    app.health.report_unreachable(None, "cannot reach Ollama at http://127.0.0.1:9")  # what a failed run does
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    app.health.check()  # the real check finds the server answering again
    qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)


def test_a_post_notice_stays_long_enough_to_reach_undo(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    qtbot.wait(9000)  # it used to expire after 8 s, taking Undo and Snooze with it
    assert dunst.count("displayed") == 1


def test_closing_the_notifier_stops_its_threads(qtbot, dunst: Dunst) -> None:
    """The sender and the action watcher end with the notifier: an app that reconnects (or a suite that makes
    hundreds of notifiers) must not collect threads blocked on a queue nobody fills."""
    import threading

    before = {t.ident for t in threading.enumerate()}
    notifier = Notifier(None, use_dbus=True)
    backend = notifier.backend
    assert backend is not None
    qtbot.waitUntil(lambda: backend.available is True, timeout=5000)
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert {t.name for t in started} >= {"notifications", "notification-actions"}
    notifier.close()
    assert backend.join(timeout=10)
    for thread in started:
        thread.join(timeout=10)
    assert [t.name for t in started if t.is_alive()] == []


def test_an_old_notification_never_acts_on_another_post(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    """#22: the newest post undone from the Feed freed its number; the next thread's post took it, and the first
    post's notification's Undo then deleted the other thread's post. Ids are never reused now, and the Undo
    and Open of a notification check the run too."""
    shown: list[Notice] = []
    app.notifier.shown.connect(shown.append)
    store = SqliteStore(app.db_path)
    try:
        store.threads.create("other", "Other")
        app.scheduler.reload()
        ollama.script(Act(POST))
        _run(qtbot, app)
        qtbot.waitUntil(lambda: any(n.undo for n in shown), timeout=5000)
        [first_notice] = [n for n in shown if n.undo]
        [first] = store.feed.posts()
        store.feed.undo("post", first.id)  # from the Feed: the notification is still up
        ollama.script(Reply(POST.replace("Standup notes", "Other thread's notes")))
        _run(qtbot, app, "other")
        [second] = store.feed.posts()
        assert second.id > first.id and second.thread_id == "other"
        app.notification_actions.handle(UNDO, first_notice)
        app.notification_actions.handle(OPEN, first_notice)
        said = lambda: sorted(f"{n.title}: {n.body}" for n in shown if "already taken back" in f"{n.title} {n.body}")  # noqa: E731
        qtbot.waitUntil(lambda: len(said()) == 2, timeout=5000)
        assert [p.id for p in store.feed.posts()] == [second.id]  # the other thread's post is untouched
        assert said() == ["Could not undo the post: that post was already taken back",
                        "That post was already taken back: " + first_notice.title], said  # fmt: skip
    finally:
        store.close()


def test_runs_that_cannot_be_recorded_are_told_once_and_taken_down_when_they_can(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst, data_dir: Path
) -> None:
    """Found by the month-long endurance run: a newer install's command line upgraded the database under the
    running app; every heartbeat of every thread then failed before it could be recorded, and the app said
    nothing (a log line per run, a normal icon). Now: one critical notification per cause, the tray's error,
    and both gone with the next run that is recorded."""
    import sqlite3

    from heartbeat_desktop.store.migrations import LATEST

    crashed: list[tuple[str, str]] = []
    app.scheduler.run_crashed.connect(lambda thread, why: crashed.append((thread, why)))

    def set_version(version: int) -> None:
        with sqlite3.connect(data_dir / "heartbeat.db") as db:
            db.execute(f"PRAGMA user_version = {version}")

    set_version(LATEST + 1)  # what a newer version's upgrade leaves
    for count in (1, 2, 3):
        app.scheduler.run_heartbeat_now("default")
        qtbot.waitUntil(lambda n=count: len(crashed) == n, timeout=15000)
    assert all("newer than this app" in why for _, why in crashed)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    qtbot.wait(1000)
    assert dunst.count("displayed") == 1  # three runs, one cause: one notification
    assert (app.tray.error or "").startswith("heartbeats cannot run: ") and "newer" in app.tray.error
    set_version(LATEST)
    _run(qtbot, app)  # the loopback server answers HEARTBEAT_OK: a run recorded again
    qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)
    assert app.tray.error is None


def test_only_the_notification_server_can_press_a_notifications_buttons(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst: Dunst
) -> None:
    """#25 item 5: any session-bus client could emit ActionInvoked with ids 1–20 and "undo" and took back
    posts. Now only the unique name that showed the notification counts; malformed signals change nothing."""
    from jeepney import DBusAddress, new_signal
    from jeepney.io.blocking import open_dbus_connection

    ollama.script(Act(POST))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    store = SqliteStore(app.db_path)
    intruder = open_dbus_connection(bus="SESSION")
    try:
        [post] = store.feed.posts()
        emitter = DBusAddress("/org/freedesktop/Notifications", interface="org.freedesktop.Notifications")
        for notification_id in range(1, 21):
            intruder.send(new_signal(emitter, "ActionInvoked", "us", (notification_id, "undo")))
        intruder.send(new_signal(emitter, "ActionInvoked", "u", (1,)))  # malformed: no action key
        intruder.send(new_signal(emitter, "NotificationClosed", "uu", (1, 2)))
        qtbot.wait(1500)
        assert [p.id for p in store.feed.posts()] == [post.id]  # nothing was taken back
        dunst.choose("Undo")  # the real server's button still works, after all that
        qtbot.waitUntil(lambda: store.feed.posts() == [], timeout=5000)
    finally:
        intruder.close()
        store.close()


def test_a_failure_held_during_do_not_disturb_is_summed_up_even_when_it_is_over(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    """#27 item 4: with dunst paused, the model server went down (a failure: "cannot reach") and came back (a
    post). The server being back withdrew the held failure, so after unpausing only the post's own
    notification came: no summary, and the failure was never shown. It is summed up now, marked as over."""
    app.notifier._dnd_poll.setInterval(200)
    qtbot.waitUntil(lambda: app.health.reachable is True, timeout=5000)  # the start-up check is done
    dunst.ctl("set-paused", "true")
    port = int(ollama.url.rsplit(":", 1)[1])
    ollama.stop()
    _run(qtbot, app)  # cannot reach the server: the health check's "cannot reach" notice, held
    qtbot.waitUntil(lambda: app.health.reachable is False, timeout=5000)
    back = OllamaServer(port=port).start()
    try:
        back.script(Act(POST))
        app.gui_store.threads.add_message("default", "new")
        _run(qtbot, app)  # a post; the server answering again takes the "cannot reach" notice back
        qtbot.waitUntil(lambda: app.health.reachable is True, timeout=5000)
        qtbot.wait(500)
        assert dunst.count("waiting") == 0 and dunst.count("displayed") == 0  # nothing even sent
        dunst.ctl("set-paused", "false")
        qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
        qtbot.wait(500)
        assert dunst.count("displayed") == 1
        dunst.ctl("close-all")
        assert dunst.history_summaries() == ["While Do Not Disturb was on: 1 update and 1 failure"]
        body = json.loads(dunst.ctl("history"))["data"][0][0]["body"]["data"]
        assert "cannot reach" in body and "(over now)" in body and "Standup notes" in body, body
    finally:
        back.stop()


def test_a_failure_notice_is_taken_down_when_that_threads_next_heartbeat_succeeds(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    """Issue "rough edges" item 2: "Heartbeat failed" stayed on screen after the thread's next heartbeat went
    fine. It is withdrawn through the server that showed it (CloseNotification) by that thread's success only."""
    app.gui_store.threads.create("other", "Other")
    app.scheduler.reload()
    qtbot.waitUntil(lambda: app.scheduler.state.thread("other") is not None, timeout=5000)
    ollama.script(Error(500, "model crashed"))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    _run(qtbot, app, "other")  # another thread's success says nothing about this failure
    app.scheduler.run_heartbeat_now("default", dry_run=True)  # nor does a dry run's
    qtbot.wait(1000)
    assert dunst.count("displayed") == 1
    _run(qtbot, app)  # the loopback server answers HEARTBEAT_OK: this thread's heartbeat succeeds
    qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)


def test_a_burst_of_failures_is_taken_down_once_every_thread_in_it_succeeded(
    qtbot, app: TrayApp, ollama: OllamaServer, dunst
) -> None:
    app.notifier._hold.setInterval(1500)
    for thread in ("b", "c"):
        app.gui_store.threads.create(thread, thread.upper())
    app.scheduler.reload()
    qtbot.waitUntil(lambda: app.scheduler.state.thread("c") is not None, timeout=5000)
    ollama.script(Error(500, "a"), Error(500, "b"), Error(500, "c"))
    for thread in ("default", "b", "c"):
        _run(qtbot, app, thread)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 2, timeout=10000)  # the first, then "2 more … failed"
    _run(qtbot, app, "b")
    qtbot.wait(500)
    assert dunst.count("displayed") == 2  # c has not succeeded yet: the burst still stands
    _run(qtbot, app, "c")
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)  # the burst went; default's stays
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 0, timeout=5000)


def test_notifications_still_up_are_closed_when_the_app_quits(qtbot, app: TrayApp, ollama: OllamaServer, dunst) -> None:
    """Issue "rough edges" item 2: failures of the last run of the app were still standing the next morning."""
    ollama.script(Error(500, "model crashed"))
    _run(qtbot, app)
    qtbot.waitUntil(lambda: dunst.count("displayed") == 1, timeout=5000)
    app.quit()
    assert dunst.count("displayed") == 0  # closed before quit() returned: the process may end right after
