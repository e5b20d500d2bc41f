"""The running app's verbs (core.control): one parser for every transport, one dispatcher, one answer each.

The transports themselves (the instance socket, the HTTP API) are tested with the real app elsewhere; here
the contract they share: what a request may carry, what each verb asks of the app, and in what order."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from heartbeat_desktop.core.control import (
    Answer,
    BadRequest,
    Request,
    Verb,
    parse_request,
    perform,
    run_and_wait,
)
from heartbeat_desktop.core.models import Refusal, RunRecord, RunRefused
from heartbeat_desktop.window_names import WINDOWS


class Control:
    """An AppControl that records what it was asked, in order (the transports' view of the app)."""

    def __init__(self, run_result: RunRecord | RunRefused | None = None, *, answer_later: bool = False) -> None:
        self.calls: list[tuple[str, object]] = []
        self.run_result = run_result
        self.answer_later = answer_later
        self.waiting: list[Callable[[RunRecord | RunRefused], None]] = []
        self.unsaved: str | None = None  # what a quit would lose (the editor's unsaved text)

    def status(self) -> dict[str, object]:
        self.calls.append(("status", None))
        return {"paused": True}

    def run_now(self, thread_id: str, dry_run: bool, done: Callable[[RunRecord | RunRefused], None]) -> str:
        self.calls.append(("run_now", (thread_id, dry_run)))
        if self.answer_later:
            self.waiting.append(done)
        elif self.run_result is not None:
            done(self.run_result)
        return f"token-{len(self.calls)}"

    def withdraw(self, token: str) -> None:
        self.calls.append(("withdraw", token))

    def set_paused(self, paused: bool) -> None:
        self.calls.append(("set_paused", paused))

    def reload(self) -> None:
        self.calls.append(("reload", None))

    def api_reload(self) -> None:
        self.calls.append(("api_reload", None))

    def open_window(self, name: str) -> None:
        self.calls.append(("open_window", name))

    def close_window(self, name: str, done: Callable[[bool], None]) -> None:
        self.calls.append(("close_window", name))
        done(name == "feed")

    def raise_ui(self) -> None:
        self.calls.append(("raise_ui", None))

    def unload_models(self) -> None:
        self.calls.append(("unload_models", None))

    def quit(self, discard: bool, done: Callable[[str | None], None]) -> None:
        # as the app does: it answers, then quits — unless unsaved work (and no discard) keeps it running
        unsaved = None if discard or not self.unsaved else self.unsaved
        done(unsaved)
        if unsaved is None:
            self.calls.append(("quit", discard))


def _perform(control: Control, message: dict[str, object]) -> list[Answer]:
    answers: list[Answer] = []

    def reply(answer: Answer) -> None:
        control.calls.append(("reply", answer))
        answers.append(answer)

    perform(control, parse_request(message), reply)
    return answers


@pytest.mark.parametrize("verb", list(Verb))
def test_every_verb_survives_the_wire(verb: Verb) -> None:
    request = Request(verb, thread="t1", dry_run=True) if verb is Verb.RUN_NOW else Request(verb)
    if verb in (Verb.OPEN, Verb.CLOSE):
        request = Request(verb, window="history")
    assert parse_request(request.to_message()) == request


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"cmd": "start"}, "unknown command 'start'; one of ping, status, run-now, pause"),
        ({}, "unknown command None"),
        ({"cmd": "run-now"}, "run-now needs a thread id"),
        ({"cmd": "run-now", "thread": ""}, "run-now needs a thread id"),
        ({"cmd": "run-now", "thread": 7}, "run-now needs a thread id"),
        ({"cmd": "open", "window": "nope"}, "no window 'nope'; one of " + ", ".join(WINDOWS)),
        ({"cmd": "close"}, "no window None"),
    ],
)
def test_a_bad_request_says_what_to_send(message: dict[str, object], words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(message)
    assert str(caught.value).startswith(words)


@pytest.mark.parametrize(
    ("cmd", "asked", "answer"),
    [
        # `already`: the fake app's status says paused, so a pause changes nothing and a resume does
        ("pause", ("set_paused", True), {"ok": True, "paused": True, "already": True}),
        ("resume", ("set_paused", False), {"ok": True, "paused": False, "already": False}),
        ("reload", ("reload", None), {"ok": True}),
        ("api-reload", ("api_reload", None), {"ok": True}),
        ("raise", ("raise_ui", None), {"ok": True}),
        ("unload-models", ("unload_models", None), {"ok": True}),
    ],
)
def test_each_verb_asks_the_app_one_thing_and_answers_once(cmd: str, asked: tuple[str, object], answer: Answer) -> None:
    control = Control()
    assert _perform(control, {"cmd": cmd}) == [answer]
    looked = [("status", None)] if cmd in ("pause", "resume") else []  # whether it was so already: a read
    assert control.calls == [*looked, asked, ("reply", answer)]


def test_open_close_and_status() -> None:
    control = Control()
    assert _perform(control, {"cmd": "open", "window": "feed"}) == [{"ok": True}]
    assert _perform(control, {"cmd": "close", "window": "feed"}) == [{"ok": True, "closed": True}]
    assert _perform(control, {"cmd": "close", "window": "history"}) == [{"ok": True, "closed": False}]
    assert _perform(control, {"cmd": "status"}) == [{"ok": True, "status": {"paused": True}}]
    assert [c for c in control.calls if c[0] != "reply"] == [
        ("open_window", "feed"),
        ("close_window", "feed"),
        ("close_window", "history"),
        ("status", None),
    ]


def test_quit_answers_before_the_app_starts_quitting() -> None:
    control = Control()
    (answer,) = _perform(control, {"cmd": "quit"})
    assert answer["ok"] is True and isinstance(answer["pid"], int)
    assert [c[0] for c in control.calls] == ["reply", "quit"]


def test_a_quit_refused_for_unsaved_work_says_so_and_discard_goes_through() -> None:
    """Found living with the app: `quit` said it had asked while the editor's unsaved text kept the app up."""
    control = Control()
    control.unsaved = "the HEARTBEAT.md editor has unsaved changes"
    (answer,) = _perform(control, {"cmd": "quit"})
    assert answer == {"ok": False, "pid": os.getpid(), "error": control.unsaved, "unsaved": True}
    assert control.calls == [("reply", answer)]  # not quitting
    assert parse_request(Request(Verb.QUIT, discard=True).to_message()) == Request(Verb.QUIT, discard=True)
    (answer,) = _perform(control, {"cmd": "quit", "discard": True})
    assert answer["ok"] is True and control.calls[-1] == ("quit", True)
    assert parse_request({"cmd": "quit", "discard": "yes"}).discard is False  # only a JSON true discards


def test_a_run_now_answers_with_the_run_or_the_refusal_by_kind() -> None:
    refused = Control(RunRefused(Refusal.BUSY, "a run of thread 't1' is already queued"))
    assert _perform(refused, {"cmd": "run-now", "thread": "t1", "dry_run": 1}) == [
        {"ok": False, "error": "a run of thread 't1' is already queued", "refused": "busy"}
    ]
    assert refused.calls[0] == ("run_now", ("t1", True))
    later = Control(answer_later=True)
    assert _perform(later, {"cmd": "run-now", "thread": "t1"}) == []  # not yet: when the run ends


def test_a_waiting_caller_gets_the_answer_from_another_thread_or_a_timeout() -> None:
    control = Control(answer_later=True)
    result = run_and_wait(control, "t1", False, timeout_s=0.2)
    assert isinstance(result, RunRefused) and result.why is Refusal.TIMED_OUT
    refusal = RunRefused(Refusal.NO_THREAD, "no thread 't2'")
    control = Control(answer_later=True)
    timer = threading.Timer(0.05, lambda: control.waiting[0](refusal))
    timer.start()
    assert run_and_wait(control, "t2", True, timeout_s=30) is refusal
    timer.join()


def test_a_waiting_caller_that_leaves_withdraws_its_run() -> None:
    """The second README-only attack (#25): a run-now whose caller gave up still ran, and its retry ran again."""
    from heartbeat_desktop.core.control import run_and_wait

    control = Control(answer_later=True)
    left = [False]
    timer = threading.Timer(0.3, lambda: left.__setitem__(0, True))
    timer.start()
    result = run_and_wait(control, "default", False, 30, gone=lambda: left[0])
    assert isinstance(result, RunRefused) and "the caller left" in result.message
    assert control.calls == [("run_now", ("default", False)), ("withdraw", "token-1")]
