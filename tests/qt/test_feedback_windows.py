"""The Feed's and History's "Not useful" with its reasons, and History's act-on line (#26 items 1 and 5), on
real widgets over a real store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.qt.windows.feed_window import FeedWindow
from heartbeat_desktop.qt.windows.history_window import HistoryWindow
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore


@pytest.fixture
def memory(data_dir: Path) -> WindowMemory:
    return WindowMemory(data_dir)


@pytest.fixture(autouse=True)
def _no_modal_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warning box is modal: in a test it would wait for a click forever. Here it fails the test instead."""

    def fail(_parent: object, title: str, text: str, *args: object) -> None:
        raise AssertionError(f"{title}: {text}")

    monkeypatch.setattr(QMessageBox, "warning", fail)


def _agent_post(store: SqliteStore, title: str) -> tuple[int, RunRecord]:
    run = RunRecord(id=f"run-{title}", thread_id="default", trigger="manual", dry_run=False, started_at=time.time())
    store.insert_run(run)
    run.status = "ok"
    run.decision = {"action": "post", "title": title, "content": "Some text."}  # as the runner records it
    result = store.finish_run(run, run.decision)
    return result["post_id"], run


def _reason_action(button, label: str):
    return next(a for a in button.menu().actions() if a.text() == label)


def test_not_useful_in_the_feed_with_and_without_a_reason(qtbot, store: SqliteStore, memory: WindowMemory) -> None:
    first, first_run = _agent_post(store, "First")
    second, second_run = _agent_post(store, "Second")
    mine = store.db.transaction(
        lambda c: store.feed.write_action(c, {"action": "post", "title": "Mine", "content": "x"}, "default", None, 9e9)
    )["post_id"]
    changed: list[bool] = []
    window = FeedWindow(store, memory, on_change=lambda: changed.append(True))
    qtbot.addWidget(window)
    window.show()
    window.show_post(second)
    window.not_useful.click()
    window.show_post(first)
    _reason_action(window.not_useful, "Wrong thread").trigger()
    assert [(e.kind, e.reason, e.source) for e in store.feedback.for_run(second_run.id)] == [
        ("not_useful", None, "feed")
    ]
    assert [e.reason for e in store.feedback.for_run(first_run.id)] == ["wrong_thread"]
    assert window.feedback_note.text() == f"Noted: #{first} was not useful (wrong thread)." and len(changed) == 2
    assert store.feed.get_post(first) is not None  # judged, not taken back
    window.show_post(mine)
    assert not window.not_useful.isEnabled()  # the user's own post: nothing of the agent's to judge
    window.down.click()  # a vote on the user's own post is no feedback
    assert len(store.feedback.list()) == 2


def test_not_useful_in_history_and_the_act_on_line(
    qtbot, store: SqliteStore, data_dir: Path, memory: WindowMemory
) -> None:
    _agent_post(store, "Acted")
    quiet = RunRecord(id="run-quiet", thread_id="default", trigger="manual", dry_run=False, started_at=time.time() + 1)
    store.insert_run(quiet)
    quiet.status = "ok"
    quiet.decision = {"action": "none", "reason": "nothing"}
    store.finish_run(quiet)
    window = HistoryWindow(store, data_dir / "heartbeat.db", memory, lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.act_on.text() != "", timeout=5000)
    assert window.act_on.text() == "Kept none judged yet this week, none judged yet this month"
    window.table.selectRow(0)  # the newest: the run that did nothing
    assert window.model.run_at(0).id == "run-quiet" and not window.not_useful.isEnabled()
    window.table.selectRow(1)
    assert window.not_useful.isEnabled() and "Your word: pending" in window.detail.toPlainText()
    _reason_action(window.not_useful, "Already knew").trigger()
    assert "Your word: rejected — not useful (already knew) from the history" in window.detail.toPlainText()
    qtbot.waitUntil(lambda: "0 of 1 this week (0%)" in window.act_on.text(), timeout=5000)
    assert window.act_on.text() == "Kept 0 of 1 this week (0%), 0 of 1 this month (0%)"


def test_dont_suggest_this_again_adds_the_rule_the_user_edited(
    qtbot, store: SqliteStore, data_dir: Path, memory: WindowMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#26 item 2 (last part): the rule is shown and editable, added only on OK, to the file the thread reads,
    and the action is marked not useful; Cancel writes nothing."""
    from heartbeat_desktop.qt.windows import not_useful

    md = data_dir / "HEARTBEAT.md"
    before = md.read_text(encoding="utf-8")
    _post_id, run = _agent_post(store, "Water the plants")
    shown: list[str] = []
    answers = iter([("ignored", False), ("If plants are mentioned again → HEARTBEAT_OK.", True)])

    def dialog(_parent, _title, label, proposal):
        shown.append(f"{label} | {proposal}")
        return next(answers)

    monkeypatch.setattr(not_useful, "ask_rule", dialog)
    window = HistoryWindow(store, data_dir / "heartbeat.db", memory, lambda: [("default", "Default")])
    qtbot.addWidget(window)
    window.show()
    window.table.selectRow(0)
    _reason_action(window.not_useful, "Don't suggest this again…").trigger()  # Cancel
    assert md.read_text(encoding="utf-8") == before and store.feedback.for_run(run.id) == []
    _reason_action(window.not_useful, "Don't suggest this again…").trigger()  # OK, as edited
    qtbot.waitUntil(lambda: "Rule added to" in window.act_on.text(), timeout=5000)
    assert "“Water the plants”" in shown[0] and str(md) in shown[0]
    after = md.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n")[:40]) and "If plants are mentioned again → HEARTBEAT_OK." in after
    assert [e.kind for e in store.feedback.for_run(run.id)] == ["not_useful"]
