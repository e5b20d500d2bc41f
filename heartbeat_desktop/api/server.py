"""The local control API's endpoints: the web heartbeat's paths (docs/architecture.md), served by the running
app on 127.0.0.1, behind a token, off by default. The HTTP side — the bounded server, the checks every
request passes before an endpoint sees it — is `api/http.py`.

Each request runs on a server thread with its own SQLite connection; anything that must happen in the app
(pause, re-plan, a run) is one of `core.control`'s verbs, which the app's `AppControl` carries to its own
threads, so no request ever blocks the GUI thread — and the GUI never blocks a request.
"""

from __future__ import annotations

import logging
import re
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..core import heartbeat_md
from ..core.config import ConfigError, HeartbeatConfig
from ..core.control import Answer, AppControl, Request, Verb, perform, run_and_wait
from ..core.feedback import reason_from_text
from ..core.models import NOTE_KINDS, Note, Refusal, RunRefused
from ..core.ports import NoteNotFound, PostNotFound, StoreError
from ..core.present import note_json, post_json, run_api_item, run_summary, thread_json, user_feedback
from ..core.providers import model_name_problem
from ..files import EDITABLE_MAX_BYTES, atomic_write
from ..store import SqliteStore
from ..store.feedback import act_on_summary
from ..store.threads import NoSuchThread
from ..wiring import run_wait_s
from .http import CONNECTION_DEADLINE_S, MAX_CONNECTIONS, ApiError, BoundedServer, current_connection, handler_class

__all__ = ["CONNECTION_DEADLINE_S", "MAX_CONNECTIONS", "ApiError", "ApiFiles", "ControlAPI"]

log = logging.getLogger(__name__)


def _limit(query: dict[str, list[str]], default: int) -> int:
    """`?limit=`: 1–500, as the CLI checks its --limit (a wrong one is said, not silently clamped)."""
    raw = query.get("limit", [str(default)])[0]
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 500):
        raise ApiError(400, "limit must be a whole number in 1–500")
    return int(raw)


@dataclass(frozen=True)
class ApiFiles:
    """What the API reads and writes itself, each request on its own connection: the app is not asked."""

    heartbeat_md: Path
    db: Path


class ControlAPI:
    """The web heartbeat's endpoints. What only the running app may do (pause, re-plan, a run) is one of
    `core.control`'s verbs, carried out by the app's `AppControl` exactly as for the command line; reads and
    the writes a script makes (messages, notes, configs, HEARTBEAT.md) use the database directly, then
    tell the app to reload."""

    def __init__(
        self,
        control: AppControl,
        files: ApiFiles,
        token: Callable[[], str],
        port: int = 0,
        on_fd_pressure: Callable[[], None] = lambda: None,
    ) -> None:
        self._control = control
        self._files = files
        self._token = token
        handler = handler_class(lambda: self.port, token, self.dispatch)
        self._httpd = BoundedServer(("127.0.0.1", port), handler, on_fd_pressure)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="control-api", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControlAPI:
        self._thread.start()
        log.info("Local API listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        log.info("Local API stopped")

    # ------------------------------------------------------------------ routing
    ROUTES: ClassVar[list[tuple[str, re.Pattern[str], str]]] = [
        ("GET", re.compile(r"^/api/heartbeat/status$"), "status"),
        ("POST", re.compile(r"^/api/heartbeat/start$"), "start"),
        ("POST", re.compile(r"^/api/heartbeat/stop$"), "stop"),
        ("GET", re.compile(r"^/api/heartbeat/heartbeat\.md$"), "get_md"),
        ("POST", re.compile(r"^/api/heartbeat/heartbeat\.md$"), "post_md"),
        ("GET", re.compile(r"^/api/threads$"), "threads"),
        ("GET", re.compile(r"^/api/threads/([^/]+)/heartbeat/config$"), "get_config"),
        ("POST", re.compile(r"^/api/threads/([^/]+)/heartbeat/config$"), "post_config"),
        ("POST", re.compile(r"^/api/threads/([^/]+)/heartbeat/run-now$"), "run_now"),
        ("GET", re.compile(r"^/api/threads/([^/]+)/heartbeat/history$"), "history"),
        ("POST", re.compile(r"^/api/threads/([^/]+)/messages$"), "add_message"),
        ("GET", re.compile(r"^/api/threads/([^/]+)/notes$"), "notes"),
        ("POST", re.compile(r"^/api/threads/([^/]+)/notes$"), "add_note"),
        ("POST", re.compile(r"^/api/threads/([^/]+)/notes/(\d{1,18})$"), "set_note"),
        ("GET", re.compile(r"^/api/feed$"), "feed"),
        ("POST", re.compile(r"^/api/feed/(\d{1,18})/comments$"), "add_comment"),
        ("GET", re.compile(r"^/api/threads/([^/]+)/feedback$"), "feedback"),
        ("POST", re.compile(r"^/api/runs/([^/]+)/feedback$"), "add_feedback"),
    ]

    def dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        allowed = []
        for route_method, pattern, name in self.ROUTES:
            match = pattern.match(path)
            if match:
                if route_method == method:
                    return getattr(self, f"_ep_{name}")(*match.groups(), query=query, body=body)
                allowed.append(route_method)
        if allowed:
            raise ApiError(405, f"use {' or '.join(allowed)} for {path}")
        raise ApiError(404, f"no endpoint {method} {path}")

    def _with_store(self, fn: Callable[[SqliteStore], Any]) -> Any:
        """`fn` on a connection of this request's own; the store's errors as the API's."""
        try:
            with SqliteStore.worker(self._files.db) as store:
                return fn(store)
        except (NoSuchThread, PostNotFound, NoteNotFound) as exc:
            raise ApiError(404, str(exc)) from None
        except StoreError as exc:
            raise ApiError(400, str(exc)) from None

    # ------------------------------------------------------------------ endpoints
    def _ep_status(self, *, query: Any, body: Any) -> tuple[int, Any]:
        return 200, self._control.status()

    def _ep_start(self, *, query: Any, body: Any) -> tuple[int, Any]:
        return 200, self._perform(Request(Verb.RESUME))

    def _ep_stop(self, *, query: Any, body: Any) -> tuple[int, Any]:
        return 200, self._perform(Request(Verb.PAUSE))

    def _perform(self, request: Request) -> Answer:
        """A verb that answers at once, as the socket would answer it."""
        box: list[Answer] = []
        perform(self._control, request, box.append)
        return box[0]

    def _md_path(self, query: dict[str, list[str]]) -> Path:
        """The HEARTBEAT.md `?thread=ID` reads (its workspace's, #27 item 2), else the data folder's."""
        thread_id = query.get("thread", [None])[0]
        if thread_id is None:
            return self._files.heartbeat_md
        thread = self._with_store(lambda s: s.threads.require(thread_id))
        return heartbeat_md.thread_file(self._files.heartbeat_md, thread.workspace)

    def _ep_get_md(self, *, query: Any, body: Any) -> tuple[int, Any]:
        path = self._md_path(query)
        text, warnings = heartbeat_md.read_heartbeat_md(path)
        parsed = heartbeat_md.parse(text)
        parsed.warnings[:0] = warnings
        return 200, {"path": str(path), "content": text, "parsed": parsed.to_dict()}

    def _ep_post_md(self, *, query: Any, body: Any) -> tuple[int, Any]:
        content = _field(body, "content", str)
        _only(body, "content")
        if len(content.encode()) > EDITABLE_MAX_BYTES:
            raise ApiError(413, "HEARTBEAT.md larger than 1 MB")
        path = self._md_path(query)
        parsed = heartbeat_md.parse(content)  # parse first: the answer says what was found
        try:
            atomic_write(path, content, backup=True)
        except OSError as exc:
            raise ApiError(500, f"could not save HEARTBEAT.md: {exc.strerror or exc}") from None
        self._control.reload()
        return 200, {"saved": True, "path": str(path), "parsed": parsed.to_dict()}

    def _ep_threads(self, *, query: Any, body: Any) -> tuple[int, Any]:
        threads = self._with_store(lambda s: s.threads.list())
        return 200, [thread_json(t) for t in threads]

    def _ep_get_config(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        thread = self._with_store(lambda s: s.threads.require(thread_id))
        return 200, {
            "thread_id": thread_id,
            "config": thread.config.to_dict(),
            "warnings": list(thread.config_warnings),
        }

    def _ep_post_config(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "send a JSON object with the settings to change")

        def work(store: SqliteStore) -> HeartbeatConfig:
            thread = store.threads.require(thread_id)
            try:
                updated = thread.config.with_updates(**body)
            except ConfigError as exc:
                raise ApiError(422, str(exc)) from None
            named = body.get("model")
            problem = model_name_problem(named, [p.name for p in store.providers.list()]) if named else None
            if problem is not None:
                raise ApiError(422, f"model: {problem}")
            store.threads.set_config(thread_id, updated)
            return updated

        updated = self._with_store(work)
        self._control.reload()
        return 200, {"thread_id": thread_id, "config": updated.to_dict()}

    def _ep_run_now(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        dry_run = False
        if body is not None:
            if not isinstance(body, dict):
                raise ApiError(400, 'send a JSON object, e.g. {"dry_run": true}')
            _only(body, "dry_run")
            dry_run = body.get("dry_run", False)
            if not isinstance(dry_run, bool):  # "false" is a non-empty string: bool() would make it a dry run
                raise ApiError(400, "dry_run must be true or false")
        wait_s = self._with_store(lambda s: (s.threads.require(thread_id), run_wait_s(s))[1])
        result = run_and_wait(self._control, thread_id, dry_run, wait_s, gone=_caller_gone())
        if isinstance(result, RunRefused):
            raise ApiError(409 if result.why is Refusal.BUSY else 503, result.message)
        return 200, run_summary(result)

    def _ep_history(self, thread_id: str, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        try:
            limit = _limit(query, 20)
            before_raw = query.get("before", [None])[0]
            before = float(before_raw) if before_raw is not None else None
        except ValueError:
            raise ApiError(400, "limit must be a whole number and before a Unix timestamp") from None

        def work(store: SqliteStore) -> list[dict[str, Any]]:
            store.threads.require(thread_id)
            runs = store.runs.history(thread_id, limit=limit, before=before)
            events, now = store.feedback.for_runs([r.id for r in runs]), store.clock()
            return [run_api_item(r, user_feedback(r, events[r.id], now)) for r in runs]

        return 200, self._with_store(work)

    def _ep_add_message(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        text = _field(body, "text", str)
        _only(body, "text", "role")
        role = body.get("role", "user") if isinstance(body, dict) else "user"
        message_id = self._with_store(lambda s: s.threads.add_message(thread_id, text, role=role))
        self._control.reload()
        return 201, {"id": message_id, "thread_id": thread_id}

    def _ep_add_note(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        text = _field(body, "text", str)
        _only(body, "text", "kind")
        kind = body.get("kind", "memory") if isinstance(body, dict) else "memory"
        if kind not in NOTE_KINDS:
            raise ApiError(422, f"kind must be one of {', '.join(NOTE_KINDS)}")
        note_id = self._with_store(lambda s: s.threads.add_note(thread_id, text, kind=kind))
        self._control.reload()
        return 201, {"id": note_id, "thread_id": thread_id, "kind": kind}

    def _ep_feedback(self, thread_id: str, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        limit = _limit(query, 50)
        return 200, self._with_store(lambda s: _feedback_of(s, thread_id, limit))

    def _ep_add_feedback(self, run_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        """A script's "Not useful" (the only kind a client says: Undo and votes are recorded where they happen)."""
        _only(body, "kind", "reason")
        kind = body.get("kind", "not_useful") if isinstance(body, dict) else "not_useful"
        if kind != "not_useful":
            raise ApiError(422, "kind must be not_useful (Undo and votes are recorded where they happen)")
        raw_reason = body.get("reason") if isinstance(body, dict) else None
        if raw_reason is not None and not isinstance(raw_reason, str):
            raise ApiError(422, "reason must be text")
        try:
            reason = reason_from_text(raw_reason) if raw_reason else None
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        event = self._with_store(lambda s: s.feedback.record(run_id, "not_useful", "api", reason))
        if event.already_recorded:  # the same word again: nothing new (`already_recorded` says so)
            return 200, event.to_dict()
        self._control.reload()
        return 201, event.to_dict()

    def _ep_set_note(self, thread_id: str, note_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        """`{"resolved": true}` closes a note (an open contradiction stops reaching the agent), false reopens.
        A note already so changes nothing and answers `"already": true`, as the CLI says "already resolved"."""
        _only(body, "resolved")
        resolved = _field(body, "resolved", bool)

        def change(s: SqliteStore) -> tuple[Note, bool]:
            before = s.threads.note(s.threads.require(thread_id).id, int(note_id))
            if before is not None and before.resolved == resolved:
                return before, True
            return s.threads.set_note_resolved(thread_id, int(note_id), resolved), False

        note, already = self._with_store(change)
        if not already:
            self._control.reload()
        return 200, {"id": note.id, "thread_id": thread_id, "kind": note.kind, "resolved": resolved, "already": already}

    def _ep_notes(self, thread_id: str, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """The thread's notes, newest first: open ones, or with `?all=1` the resolved ones too."""
        limit = _limit(query, 100)
        every = query.get("all", ["0"])[0] in ("1", "true")

        def work(s: SqliteStore) -> list[dict[str, Any]]:
            s.threads.require(thread_id)
            return [note_json(n) for n in s.threads.notes(thread_id, limit, include_resolved=every)]

        return 200, self._with_store(work)

    def _ep_add_comment(self, post_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        """The user's comment on a post. `open_notes`: the open contradiction notes the post was raised from
        (its run cited them), for the client to offer resolving (POST …/notes/ID `{"resolved": true}`)."""
        _only(body, "content")
        content = _field(body, "content", str)
        answer = self._with_store(lambda s: s.answers.comment(int(post_id), content))
        self._control.reload()
        return 201, {
            "id": answer.comment_id,
            "post_id": answer.post_id,
            "open_notes": [note_json(n) for n in answer.open_notes],
        }

    def _ep_feed(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        try:
            limit = _limit(query, 50)
        except ValueError:
            raise ApiError(400, "limit must be a whole number") from None
        posts = self._with_store(lambda s: s.feed.posts(limit=limit))
        return 200, [post_json(p) for p in posts]


def _caller_gone() -> Callable[[], bool]:
    """Whether this request's client closed its connection (a curl -m that gave up): then its run-now is
    withdrawn. The connection is the request thread's own (http.py keeps it per thread)."""
    conn = current_connection()
    if conn is None:
        return lambda: False

    def gone() -> bool:
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    return gone


def _feedback_of(store: SqliteStore, thread_id: str, limit: int) -> dict[str, Any]:
    store.threads.require(thread_id)
    events = store.feedback.list(thread_id, limit=limit)
    rate = store.feedback.act_on(thread_id)
    return {
        "events": [e.to_dict() for e in events],
        "act_on": rate.to_dict(),  # every action of the thread so far
        **{f"act_on_{span}": value for span, value in act_on_summary(store.feedback, thread_id).items()},
    }


def _field(body: Any, name: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(name), kind):
        raise ApiError(400, f"send a JSON object with {name!r} ({kind.__name__})")
    return body[name]


def _only(body: Any, *names: str) -> None:
    """An endpoint's body holds only the fields it reads: a misspelt one (`dryRun`) would otherwise be dropped
    without a word and the request carried out as if it were not there (a real run instead of a dry one)."""
    if isinstance(body, dict):
        unknown = sorted(set(body) - set(names))
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r}; this endpoint takes {', '.join(names)}")
