"""The local API's HTTP transport: a bounded threading server, and a request handler that checks everything
about a request before its endpoint sees it (the `Host`, the token, the length, the JSON).

Server: the standard library's `ThreadingHTTPServer` on its own thread. PySide6-Essentials has no Qt HTTP
server (that is in the Addons), and an ASGI stack would add three dependencies to the bundle for a
handful of loopback-only JSON endpoints.

Security: `Authorization: Bearer TOKEN` on every endpoint (constant-time compare; the scheme in any case); one
`Host` header naming the loopback address and our port (DNS rebinding); only origin-form targets (a path); no
CORS headers at all; bodies over 2 MiB refused (a negative Content-Length too), and any Transfer-Encoding (no
chunked bodies, no smuggling between two framings); a query parameter given twice refused; NaN and Infinity
refused (not JSON); text that is not valid Unicode refused; errors are JSON `{"error": …}` with the right
status.

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
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from ..core.json_keys import RepeatedKey, one_value_per_key

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024  # a HEARTBEAT.md may be 1 MB; JSON escaping can nearly double it
MAX_CONNECTIONS = 32
CONNECTION_DEADLINE_S = 10.0  # to send a whole request; a run-now then waits for its run
READ_TIMEOUT_S = 5.0

# What the handler hands a checked request to: (method, path, query, body) → (status, JSON payload).
Dispatch = Callable[[str, str, dict[str, list[str]], Any], tuple[int, Any]]


_current = threading.local()


def current_connection() -> socket.socket | None:
    """The client connection of the request this thread is handling (each request has a thread of its own):
    an endpoint that waits long checks with it whether its caller is still there."""
    return getattr(_current, "connection", None)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BoundedServer(ThreadingHTTPServer):
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


@dataclass(frozen=True)
class _Api:
    port: Callable[[], int]
    token: Callable[[], str]  # read per request: `api regenerate-token` applies at once
    dispatch: Dispatch


def handler_class(
    port: Callable[[], int], token: Callable[[], str], dispatch: Dispatch
) -> type[BaseHTTPRequestHandler]:
    """The request handler for one API (the standard library's server wants a class, not an instance)."""
    return type("Handler", (ApiHandler,), {"api": _Api(port, token, dispatch)})


class ApiHandler(BaseHTTPRequestHandler):
    api: ClassVar[_Api]
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
        # Before a request line is parsed (an error the standard library answers) there is no command or path.
        log.debug("API %s %s", getattr(self, "command", None), str(getattr(self, "path", "")).split("?")[0])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the standard library refuses itself (an unknown method such as `get`, headers too long, a bad
        request line) is answered in JSON like every other error, not with its HTML page."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._answer(code, {"error": message or phrase})

    def _answer(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":  # HEAD: the same status and headers, and no body (RFC 9110)
            self.wfile.write(body)

    def _handle(self) -> None:
        _current.connection = self.connection
        try:
            self._check_caller()
            body = self._read_body()
            path, query = _target(self.path)
            method = "GET" if self.command == "HEAD" else self.command  # HEAD: GET's status and headers, no body
            status, payload = self.api.dispatch(method, path, query, body)
        except (TimeoutError, ConnectionError):  # the client went silent or away: nobody to answer
            self.close_connection = True
            return
        except ApiError as exc:
            status, payload = exc.status, {"error": exc.message}
        except Exception as exc:  # never a traceback to the client; the log has it
            log.exception("Local API request failed")
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        self._answer(status, payload)

    def _check_caller(self) -> None:
        """Addressed to us (not a rebound DNS name), with the token."""
        hosts = self.headers.get_all("Host") or [""]
        if len(hosts) > 1:  # which one counts would be a guess
            raise ApiError(400, "two Host headers")
        host = hosts[0].strip().lower()
        port = self.api.port()
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            # A Host without the port means port 80 (RFC 9110), which is not us: say what is expected.
            raise ApiError(403, f"this API answers only requests addressed to 127.0.0.1:{port} (Host: {host[:100]!r})")
        auths = self.headers.get_all("Authorization") or [""]
        if len(auths) > 1:  # which one counts would be a guess; two Host headers are refused the same way
            raise ApiError(400, "two Authorization headers")
        scheme, _, credentials = auths[0].strip().partition(" ")
        # The scheme is case-insensitive (RFC 9110 §11.1): "bearer TOKEN" is the same as "Bearer TOKEN".
        given = credentials.strip() if scheme.lower() == "bearer" else ""
        if not hmac.compare_digest(given.encode(), self.api.token().encode()) or not given:
            raise ApiError(401, "missing or wrong bearer token (see: heartbeat-desktop api info)")

    def _read_body(self) -> Any:
        if self.headers.get_all("Transfer-Encoding"):
            # Chunked bodies are not read here; beside a Content-Length the two disagree on where the request
            # ends (request smuggling): refused either way, and the connection closed.
            self.close_connection = True
            raise ApiError(400, "Transfer-Encoding is not accepted: send the body with a Content-Length")
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
        return _decode(raw) if raw else None

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

    def do_HEAD(self) -> None:  # what GET would answer, headers only
        self._handle()


def _target(raw: str) -> tuple[str, dict[str, list[str]]]:
    """The path and query of an origin-form target ("/api/feed?limit=5"). An absolute-form target
    ("http://other/api/feed") names an authority the Host check did not see, so it is refused; a query
    parameter given twice would leave which one counts to a guess, so it is refused too."""
    if not raw.startswith("/") or raw.startswith("//"):
        raise ApiError(400, "the request target must be a path such as /api/threads")
    parts = urlsplit(raw)
    query = parse_qs(parts.query, keep_blank_values=True)
    repeated = sorted(name for name, values in query.items() if len(values) > 1)
    if repeated:
        raise ApiError(400, f"{repeated[0]} given more than once")
    return parts.path, query


class _NotAJsonNumber(ValueError):
    """NaN, Infinity or -Infinity in a body: Python's parser reads them, JSON has no such numbers."""


def _not_json_number(text: str) -> Any:
    raise _NotAJsonNumber(text)


def _decode(raw: bytes) -> Any:
    try:
        # NaN and Infinity are not JSON (RFC 8259): Python's parser takes them, and a temperature of NaN
        # would then fail a range check with a message that makes no sense.
        body = json.loads(raw, parse_constant=_not_json_number, object_pairs_hook=one_value_per_key)
        if body is None:  # `null`: not "no body", and not an object either
            raise ApiError(400, "the body is null: send a JSON object, or no body")
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    except UnicodeEncodeError:  # "\ud800": JSON allows it, no text store does
        raise ApiError(400, "the body contains text that is not valid Unicode") from None
    except RepeatedKey as exc:  # {"dry_run": true, "dry_run": false}: which one counts would be a guess
        raise ApiError(400, f"the body gives {exc.key!r} more than once") from None
    except _NotAJsonNumber as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc} is not a JSON number") from None
    except ValueError:  # an integer of thousands of digits (Python's int-parsing limit)
        raise ApiError(400, "the body has a number too long to read") from None
    except RecursionError:
        raise ApiError(400, "the body is nested too deeply") from None
    return body
