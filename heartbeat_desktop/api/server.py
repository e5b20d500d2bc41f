"""The local control API: the web heartbeat's endpoints (docs/architecture.md), served by the running app
on 127.0.0.1, behind a token.

Server: the standard library's `ThreadingHTTPServer` on its own thread. PySide6-Essentials has no Qt HTTP
server (that is in the Addons), and an ASGI stack would add three dependencies to the bundle for a
handful of loopback-only JSON endpoints. Each request runs on a server thread with its own SQLite
connection; anything that must happen in the app (pause, re-plan, a run) goes through the scheduler's
thread-safe signals, so no request ever blocks the GUI thread — and the GUI never blocks a request.

Security: off by default; `Authorization: Bearer TOKEN` on every endpoint (constant-time compare); the
`Host` header must name the loopback address and our port (DNS rebinding); no CORS headers at all;
bodies over 2 MiB refused (a negative Content-Length too); text that is not valid Unicode refused;
errors are JSON `{"error": …}` with the right status.

Exhaustion: any local process can connect without a token, so connections themselves are bounded — at
most `MAX_CONNECTIONS` at once (more are closed at once), each with `CONNECTION_DEADLINE_S` to finish
(a client that sends half a request, or a byte a second, is cut), and when the process runs out of file
descriptors anyway the accept loop backs off instead of spinning, and tells the app (`on_fd_pressure`)
so its other listeners can check they still listen.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from ..core import heartbeat_md
from ..core.config import ConfigError, HeartbeatConfig
from ..core.models import NOTE_KINDS, Refusal, RunRecord, RunRefused
from ..core.ports import StoreError
from ..core.present import post_json, run_api_item, run_summary, scheduler_status, thread_json
from ..core.scheduler_state import SchedulerState
from ..files import EDITABLE_MAX_BYTES, atomic_write
from ..store import SqliteStore
from ..store.threads import NoSuchThread

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024  # a HEARTBEAT.md may be 1 MB; JSON escaping can nearly double it
MAX_CONNECTIONS = 32
CONNECTION_DEADLINE_S = 10.0  # to send a whole request; a run-now then waits for its run
READ_TIMEOUT_S = 5.0


class _BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on connections and a back-off when descriptors run out."""

    daemon_threads = True
    request_queue_size = 64  # the listen backlog: a burst of real clients waits instead of being refused

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], on_fd_pressure: Callable[[], None]
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        # Connections still sending their request, oldest first. When every slot is taken, the oldest of
        # these is cut to make room: a client that has not managed to send a request yet is the likeliest
        # to be holding a slot on purpose, and any user on the machine can open connections without the
        # token. A real client sends its request at once, so it is never the oldest for long.
        self._reading: dict[int, socket.socket] = {}
        self._reading_lock = threading.Lock()
        self._on_fd_pressure = on_fd_pressure
        self._backoff = 0.0

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            accepted = super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # The listening socket stays readable while the queue is full: without a pause the
                # accept loop would spin at full CPU. Back off (up to a second) and say so once.
                self._backoff = min(1.0, self._backoff * 2 or 0.05)
                if self._backoff >= 1.0 or self._backoff == 0.05:
                    log.warning("Local API: out of file descriptors (%s); backing off", exc.strerror)
                    self._on_fd_pressure()
                time.sleep(self._backoff)
            raise
        if self._backoff:  # descriptors are back: let the app check its other listeners again
            self._backoff = 0.0
            self._on_fd_pressure()
        return accepted

    def reading(self, conn: socket.socket, still: bool) -> None:
        with self._reading_lock:
            if still:
                self._reading[id(conn)] = conn
            else:
                self._reading.pop(id(conn), None)

    def _evict_oldest_reader(self) -> bool:
        with self._reading_lock:
            if not self._reading:
                return False
            conn = self._reading.pop(next(iter(self._reading)))
        try:
            conn.shutdown(socket.SHUT_RDWR)  # its handler wakes, ends and frees the slot
        except OSError:
            pass
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if not (self._evict_oldest_reader() and self._slots.acquire(timeout=0.5)):
                log.warning("Local API: %d connections open; refusing another", MAX_CONNECTIONS)
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that vanished or was cut at its deadline is not an error worth a traceback on stderr.
        log.debug("Local API connection ended abnormally", exc_info=True)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _limit(query: dict[str, list[str]], default: int) -> int:
    """`?limit=`: 1–500, as the CLI checks its --limit (a wrong one is said, not silently clamped)."""
    raw = query.get("limit", [str(default)])[0]
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 500):
        raise ApiError(400, "limit must be a whole number in 1–500")
    return int(raw)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AppBridge:
    """What the API may ask of the running app. Every method is safe to call from a server thread."""

    def __init__(
        self,
        *,
        state: Callable[[], SchedulerState],
        pause: Callable[[], None],
        resume: Callable[[], None],
        reload: Callable[[], None],
        run_now: Callable[[str, bool], RunRecord | RunRefused],
        changed: Callable[[str], None],
        heartbeat_md_path: Path,
        db_path: Path,
    ) -> None:
        self.state = state
        self.pause = pause
        self.resume = resume
        self.reload = reload
        self.run_now = run_now
        self.changed = changed
        self.heartbeat_md_path = heartbeat_md_path
        self.db_path = db_path


class ControlAPI:
    def __init__(
        self,
        bridge: AppBridge,
        token: Callable[[], str],
        port: int = 0,
        on_fd_pressure: Callable[[], None] = lambda: None,
    ) -> None:
        self._bridge = bridge
        self._token = token
        self._httpd = _BoundedServer(("127.0.0.1", port), self._handler_class(), on_fd_pressure)
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
        ("POST", re.compile(r"^/api/threads/([^/]+)/notes$"), "add_note"),
        ("GET", re.compile(r"^/api/feed$"), "feed"),
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

    def _store(self) -> SqliteStore:
        return SqliteStore(self._bridge.db_path, recover=False)

    def _with_store(self, fn: Callable[[SqliteStore], Any]) -> Any:
        store = self._store()
        try:
            return fn(store)
        except NoSuchThread as exc:
            raise ApiError(404, str(exc)) from None
        except StoreError as exc:
            raise ApiError(400, str(exc)) from None
        finally:
            store.close()

    # ------------------------------------------------------------------ endpoints
    def _ep_status(self, *, query: Any, body: Any) -> tuple[int, Any]:
        return 200, scheduler_status(self._bridge.state())

    def _ep_start(self, *, query: Any, body: Any) -> tuple[int, Any]:
        self._bridge.resume()
        return 200, {"ok": True, "paused": False}

    def _ep_stop(self, *, query: Any, body: Any) -> tuple[int, Any]:
        self._bridge.pause()
        return 200, {"ok": True, "paused": True}

    def _ep_get_md(self, *, query: Any, body: Any) -> tuple[int, Any]:
        text, warnings = heartbeat_md.read_heartbeat_md(self._bridge.heartbeat_md_path)
        parsed = heartbeat_md.parse(text)
        parsed.warnings[:0] = warnings
        return 200, {"content": text, "parsed": parsed.to_dict()}

    def _ep_post_md(self, *, query: Any, body: Any) -> tuple[int, Any]:
        content = _field(body, "content", str)
        if len(content.encode()) > EDITABLE_MAX_BYTES:
            raise ApiError(413, "HEARTBEAT.md larger than 1 MB")
        parsed = heartbeat_md.parse(content)  # parse first: the answer says what was found
        try:
            atomic_write(self._bridge.heartbeat_md_path, content, backup=True)
        except OSError as exc:
            raise ApiError(500, f"could not save HEARTBEAT.md: {exc.strerror or exc}") from None
        self._bridge.changed("heartbeat.md")
        return 200, {"saved": True, "parsed": parsed.to_dict()}

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
            store.threads.set_config(thread_id, updated)
            return updated

        updated = self._with_store(work)
        self._bridge.reload()
        self._bridge.changed("config")
        return 200, {"thread_id": thread_id, "config": updated.to_dict()}

    def _ep_run_now(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        dry_run = False
        if body is not None:
            if not isinstance(body, dict):
                raise ApiError(400, 'send a JSON object, e.g. {"dry_run": true}')
            dry_run = bool(body.get("dry_run", False))
        self._with_store(lambda s: s.threads.require(thread_id))
        result = self._bridge.run_now(thread_id, dry_run)
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

        def work(store: SqliteStore) -> list[RunRecord]:
            store.threads.require(thread_id)
            return store.runs.history(thread_id, limit=limit, before=before)

        runs = self._with_store(work)
        return 200, [run_api_item(r) for r in runs]

    def _ep_add_message(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        text = _field(body, "text", str)
        role = body.get("role", "user") if isinstance(body, dict) else "user"
        message_id = self._with_store(lambda s: s.threads.add_message(thread_id, text, role=role))
        self._bridge.changed("threads")
        return 201, {"id": message_id, "thread_id": thread_id}

    def _ep_add_note(self, thread_id: str, *, query: Any, body: Any) -> tuple[int, Any]:
        text = _field(body, "text", str)
        kind = body.get("kind", "memory") if isinstance(body, dict) else "memory"
        if kind not in NOTE_KINDS:
            raise ApiError(422, f"kind must be one of {', '.join(NOTE_KINDS)}")
        note_id = self._with_store(lambda s: s.threads.add_note(thread_id, text, kind=kind))
        self._bridge.changed("threads")
        return 201, {"id": note_id, "thread_id": thread_id, "kind": kind}

    def _ep_feed(self, *, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        try:
            limit = _limit(query, 50)
        except ValueError:
            raise ApiError(400, "limit must be a whole number") from None
        posts = self._with_store(lambda s: s.feed.posts(limit=limit))
        return 200, [post_json(p) for p in posts]

    # ------------------------------------------------------------------ HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "HeartbeatDesktop"
            sys_version = ""
            timeout = READ_TIMEOUT_S  # each read; the deadline below bounds the whole request

            def setup(self) -> None:
                super().setup()
                self.server.reading(self.connection, True)  # type: ignore[attr-defined]
                # A client trickling a byte every few seconds never trips the per-read timeout: cut the
                # connection when its time to send a request is up (disarmed once the request is read).
                self._deadline = threading.Timer(CONNECTION_DEADLINE_S, self._cut)
                self._deadline.daemon = True
                self._deadline.start()

            def _cut(self) -> None:
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def finish(self) -> None:
                self._deadline.cancel()
                self.server.reading(self.connection, False)  # type: ignore[attr-defined]
                super().finish()

            def handle_one_request(self) -> None:
                super().handle_one_request()
                self.close_connection = True  # one request per connection: no idle keep-alive slots

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("API %s %s", self.command, self.path.split("?")[0])

            def _answer(self, status: int, payload: Any) -> None:
                body = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                try:
                    status, payload = self._process()
                except (TimeoutError, ConnectionError):  # the client went silent or away: nobody to answer
                    self.close_connection = True
                    return
                except ApiError as exc:
                    status, payload = exc.status, {"error": exc.message}
                except Exception as exc:  # never a traceback to the client; the log has it
                    log.exception("Local API request failed")
                    status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
                self._answer(status, payload)

            def _process(self) -> tuple[int, Any]:
                hosts = self.headers.get_all("Host") or [""]
                host = hosts[0].strip().lower() if len(hosts) == 1 else ""  # two Host headers: refused
                if host not in (f"127.0.0.1:{api.port}", f"localhost:{api.port}"):
                    raise ApiError(403, "this API answers only requests addressed to 127.0.0.1")
                auth = self.headers.get("Authorization") or ""
                expected = f"Bearer {api._token()}"
                if not hmac.compare_digest(auth.encode(), expected.encode()):
                    raise ApiError(401, "missing or wrong bearer token (see: heartbeat-desktop api info)")
                lengths = self.headers.get_all("Content-Length") or ["0"]
                length_raw = lengths[0]
                # "-5" would make read() take everything until EOF; two lengths, or " 12", are a request
                # smuggled past whatever sits in front: refuse rather than guess.
                if len(lengths) > 1 or not (length_raw.isascii() and length_raw.isdigit()):
                    self.close_connection = True
                    raise ApiError(400, "bad Content-Length")
                length = int(length_raw)
                if length > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, f"request body over {MAX_BODY // (1024 * 1024)} MiB")
                raw = self.rfile.read(length) if length else b""
                self._deadline.cancel()  # the request is in: what follows (a run) is the app's time
                self.server.reading(self.connection, False)  # type: ignore[attr-defined]
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                        json.dumps(body, ensure_ascii=False).encode("utf-8")
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        raise ApiError(400, "the body is not valid JSON") from None
                    except UnicodeEncodeError:  # "\ud800": JSON allows it, no text store does
                        raise ApiError(400, "the body contains text that is not valid Unicode") from None
                    except ValueError:  # an integer of thousands of digits (Python's int-parsing limit)
                        raise ApiError(400, "the body has a number too long to read") from None
                parts = urlsplit(self.path)
                return api.dispatch(self.command, parts.path, parse_qs(parts.query), body)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def do_OPTIONS(self) -> None:  # no CORS: a browser preflight gets no permission
                self._handle()

        return Handler


def _field(body: Any, name: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(name), kind):
        raise ApiError(400, f"send a JSON object with {name!r} ({kind.__name__})")
    return body[name]
