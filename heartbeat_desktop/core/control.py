"""The running app's verbs, named once: what the command line (over the instance socket), the local HTTP API
and the tray may ask of a running app, each with its request's fields and its answer's shape.

Why one module: the socket and the API used to decide the same things differently (a run-now on a busy
thread was queued by one and refused at once by the other; "pause" was `stop` on one side and absent on the
other; the run-now's answer was correlated twice). Now a transport only turns its bytes into a `Request`
(`parse_request`), hands it to `perform` with the app's one `AppControl` (`qt/services/app_control.py`), and
writes the answer back in its own framing: JSON lines on the socket (`instance_socket`), HTTP on the API,
whose paths and status codes stay the web heartbeat's (`/api/heartbeat/start` is `RESUME`, `stop` is `PAUSE`,
a refused run-now is 409 or 503 by its `Refusal`).

Answers are JSON objects, `{"ok": true, …}` or `{"ok": false, "error": TEXT}`; a run-now that produced no run
adds `"refused": WHY` (a `Refusal` value), so a client decides by kind, never by the wording.

A run-now on a busy thread is decided once, by the app's scheduler, for every caller: queued behind the run in
flight (one waits at most), refused `busy` when one is already queued.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ..window_names import WINDOWS
from .models import Refusal, RunRecord, RunRefused

Answer = dict[str, Any]
Reply = Callable[[Answer], None]
RunDone = Callable[[RunRecord | RunRefused], None]


class Verb(StrEnum):
    """Each value is the word on the wire (the socket's `cmd`)."""

    PING = "ping"  # is an app there, and which process
    STATUS = "status"  # core.present.scheduler_status plus the process's own health
    RUN_NOW = "run-now"  # answered when the run ends, with the whole run record
    PAUSE = "pause"  # every scheduled heartbeat; kept across restarts
    RESUME = "resume"
    RELOAD = "reload"  # threads, configs, messages or settings changed elsewhere: re-plan, refresh windows
    API_RELOAD = "api-reload"  # the local API's settings changed: start, restart or stop it
    OPEN = "open"  # a window, by its name in window_names.WINDOWS
    CLOSE = "close"  # answers whether one was open
    RAISE = "raise"  # a second launch: show the user where the running app is
    UNLOAD_MODELS = "unload-models"  # free the model server's memory; the app's notification says what
    QUIT = "quit"  # answered first, then the app quits; refused (ok false, "unsaved") while a window has unsaved work


class BadRequest(ValueError):
    """A request the app cannot carry out as sent; the text says what to send instead."""


@dataclass(frozen=True)
class Request:
    verb: Verb
    thread: str | None = None  # RUN_NOW
    dry_run: bool = False  # RUN_NOW
    window: str | None = None  # OPEN, CLOSE
    discard: bool = False  # QUIT: drop the windows' unsaved work (the editor's text) instead of refusing

    def to_message(self) -> dict[str, Any]:
        """The socket's JSON for this request (the client adds the protocol version)."""
        message: dict[str, Any] = {"cmd": self.verb.value}
        if self.verb is Verb.RUN_NOW:
            message.update(thread=self.thread, dry_run=self.dry_run)
        if self.window is not None:
            message["window"] = self.window
        if self.discard:
            message["discard"] = True
        return message


def parse_request(message: Mapping[str, Any]) -> Request:
    """A transport's decoded message as a `Request`, every field checked; raises BadRequest."""
    cmd = message.get("cmd")
    try:
        verb = Verb(str(cmd))
    except ValueError:
        raise BadRequest(f"unknown command {cmd!r}; one of {', '.join(v.value for v in Verb)}") from None
    if verb is Verb.RUN_NOW:
        thread = message.get("thread")
        if not isinstance(thread, str) or not thread:
            raise BadRequest("run-now needs a thread id")
        return Request(verb, thread=thread, dry_run=bool(message.get("dry_run")))
    if verb in (Verb.OPEN, Verb.CLOSE):
        window = message.get("window")
        if window not in WINDOWS:
            raise BadRequest(f"no window {window!r}; one of {', '.join(WINDOWS)}")
        return Request(verb, window=str(window))
    if verb is Verb.QUIT:
        return Request(verb, discard=message.get("discard") is True)
    return Request(verb)


class AppControl(Protocol):
    """What a running app does for each verb. Every method may be called from any thread (the API answers
    on its server threads): an implementation carries GUI work to its GUI thread, and calls `done` there."""

    def status(self) -> dict[str, object]: ...

    def run_now(self, thread_id: str, dry_run: bool, done: RunDone) -> str:
        """Ask for a run; returns the request's token (for `withdraw`)."""
        ...

    def withdraw(self, token: str) -> None:
        """Its caller is gone: a run still queued for it is dropped, one in flight is cancelled."""
        ...

    def set_paused(self, paused: bool) -> None: ...

    def reload(self) -> None: ...

    def api_reload(self) -> None: ...

    def open_window(self, name: str) -> None: ...

    def close_window(self, name: str, done: Callable[[bool], None]) -> None: ...

    def raise_ui(self) -> None: ...

    def unload_models(self) -> None: ...

    def quit(self, discard: bool, done: Callable[[str | None], None]) -> None:
        """Quit unless a window holds unsaved work: `done(None)` when the app is quitting (it quits after
        that answer), `done(what is unsaved)` when it stays. `discard` drops that work and quits."""
        ...


def run_answer(result: RunRecord | RunRefused) -> Answer:
    if isinstance(result, RunRefused):
        return {"ok": False, "error": result.message, "refused": result.why.value}
    return {"ok": True, "run": result.to_dict()}


def quit_answer(unsaved: str | None) -> Answer:
    """A quit's answer: the process that is quitting, or why it stays (`unsaved`: what a quit would lose)."""
    if unsaved is None:
        return {"ok": True, "pid": os.getpid()}
    return {"ok": False, "pid": os.getpid(), "error": unsaved, "unsaved": True}


def perform(control: AppControl, request: Request, reply: Reply) -> str | None:
    """Carry out one request and answer it through `reply` exactly once (a run-now and a close answer later,
    when the app has done it). Returns a run-now's token: a transport whose caller leaves withdraws it."""
    verb = request.verb
    if verb is Verb.RUN_NOW:
        return control.run_now(str(request.thread), request.dry_run, lambda result: reply(run_answer(result)))
    if verb is Verb.CLOSE:
        control.close_window(str(request.window), lambda closed: reply({"ok": True, "closed": closed}))
    elif verb is Verb.STATUS:
        reply({"ok": True, "status": control.status()})
    elif verb is Verb.PING:
        reply({"ok": True, "pid": os.getpid()})
    elif verb is Verb.QUIT:  # answered before the app quits: the client learns which process is quitting
        control.quit(request.discard, lambda unsaved: reply(quit_answer(unsaved)))
    else:
        answer: Answer = {"ok": True}
        if verb in (Verb.PAUSE, Verb.RESUME):
            # Whether it was so already, for the words ("already paused"); the verb is applied all the same,
            # so a state not yet published (a pause just asked) can never keep a resume from happening.
            answer["paused"] = verb is Verb.PAUSE
            answer["already"] = bool(control.status().get("paused")) == answer["paused"]
        _SIMPLE[verb](control, request)
        reply(answer)
    return None


# The verbs that answer at once with nothing to say but "done".
_SIMPLE: dict[Verb, Callable[[AppControl, Request], None]] = {
    Verb.PAUSE: lambda c, _r: c.set_paused(True),
    Verb.RESUME: lambda c, _r: c.set_paused(False),
    Verb.RELOAD: lambda c, _r: c.reload(),
    Verb.API_RELOAD: lambda c, _r: c.api_reload(),
    Verb.OPEN: lambda c, r: c.open_window(str(r.window)),
    Verb.RAISE: lambda c, _r: c.raise_ui(),
    Verb.UNLOAD_MODELS: lambda c, _r: c.unload_models(),
}


def run_and_wait(
    control: AppControl,
    thread_id: str,
    dry_run: bool,
    timeout_s: float,
    gone: Callable[[], bool] = lambda: False,
) -> RunRecord | RunRefused:
    """A run-now for a caller that blocks (an API request on its server thread): the same request as every
    other caller's, and `timed_out` when the run has not ended in `timeout_s`. `gone()` says the caller
    left (its connection closed): the request is then withdrawn, so a client that gave up and retries never
    gets two runs."""
    finished = threading.Event()
    box: list[RunRecord | RunRefused] = []

    def done(result: RunRecord | RunRefused) -> None:
        box.append(result)
        finished.set()

    token = control.run_now(thread_id, dry_run, done)
    deadline = time.monotonic() + timeout_s
    while not finished.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
        if gone() or time.monotonic() >= deadline:
            control.withdraw(token)
            if gone():
                return RunRefused(Refusal.TIMED_OUT, "the caller left; the run was withdrawn")
            return RunRefused(Refusal.TIMED_OUT, "the run did not finish in time; see History")
    return box[0]
