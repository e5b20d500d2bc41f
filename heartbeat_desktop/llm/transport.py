"""Every byte a model server sends passes through one guard: a hard deadline, a size cap, a cut switch.

Why a watchdog and not httpx's timeouts: httpx times out each *read*, so a server that trickles a byte
every few seconds keeps a request alive for ever, and checking the deadline between parsed lines does
not help when no line ever ends. A run then holds its slot until the app restarts. `CallGuard` arms a
timer for the run's deadline; when it fires — or when the user presses Cancel — it shuts the socket
down, which wakes the blocked read at once, and the client reports a timeout (or a cancel) instead of
whatever the broken connection looks like.

Why a cap: the client buffers what it reads (a line, a JSON body); a server that sends 300 MB takes the
app's memory with it. Bytes are counted as they arrive, before any buffering, and past `MAX_REPLY_BYTES`
the connection is cut. Compression is refused (`Accept-Encoding: identity`) so the count is the size.

The guard holds the socket from the moment it connects (a network backend that hands it over), so the
deadline covers the status line and headers too: a server trickling its headers a byte at a time was
otherwise out of reach. A reply in any `Content-Encoding` but identity is refused: the count is of the
bytes on the wire, and a gzip bomb of 1.5 MB inflates to gigabytes after it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpcore
import httpx

from ..core.ports import LLMError
from .server_text import seconds

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 4 * 1024 * 1024
"""A decision is a few KB; streamed as NDJSON (~100 bytes of envelope per token) even 4 000 tokens of
thinking stay far below this."""
CONNECT_TIMEOUT_S = 5.0
IDENTITY = {"Accept-Encoding": "identity"}

Reason = Literal["timeout", "cancelled", "too_large", "compressed"]


class CallGuard:
    """The guard of one model request (or of one run's requests: attempts share the deadline)."""

    def __init__(self, deadline: float, max_bytes: int = MAX_REPLY_BYTES) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.reason: Reason | None = None
        self.stopped = threading.Event()  # set when cut: a wait between attempts ends with it
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.transport = _GuardedTransport(self)
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.cut, args=("timeout",))
        self._timer.daemon = True

    def __enter__(self) -> CallGuard:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._timer.cancel()
        self.transport.close()

    def extend(self, seconds: float) -> None:
        """Move the deadline to `seconds` from now (a pull: the limit is on silence, not on the whole
        download). Once cut, a guard stays cut."""
        with self._lock:
            if self.reason is not None:
                return
            self._timer.cancel()
            self.deadline = time.monotonic() + seconds
            self._timer = threading.Timer(seconds, self.cut, args=("timeout",))
            self._timer.daemon = True
            self._timer.start()

    def timeout(self) -> httpx.Timeout:
        """httpx's own timeouts: the time left, for connecting and for the response headers."""
        left = max(0.05, self.deadline - time.monotonic())
        return httpx.Timeout(left, connect=min(CONNECT_TIMEOUT_S, left))

    def cut(self, reason: Reason) -> None:
        """End the request now, from any thread: the blocked read wakes up with an error."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            sockets = list(self._sockets)
        self.stopped.set()
        if sockets:
            log.info("Cutting the connection to the model server (%s)", reason)
        for sock in sockets:
            _shut(sock)

    def cancel(self) -> None:
        self.cut("cancelled")

    def _register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            already = self.reason is not None
        if already:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to wake


class _GuardedBackend(httpcore.NetworkBackend):
    """The default network backend, handing each new connection's socket to the guard at once."""

    def __init__(self, guard: CallGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        self._guard._register(stream.get_extra_info("socket"))
        return stream

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, timeout, socket_options)
        self._guard._register(stream.get_extra_info("socket"))
        return stream

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, guard: CallGuard) -> None:
        super().__init__()
        self._guard = guard
        # httpx builds its pool without a way to pass a backend; the pool reads this attribute per connection.
        self._pool._network_backend = _GuardedBackend(guard)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._guard.reason is not None:
            raise httpx.ReadError(f"request not sent: {self._guard.reason}", request=request)
        request.headers.update(IDENTITY)
        response = super().handle_request(request)
        stream = response.extensions.get("network_stream")
        self._guard._register(stream.get_extra_info("socket") if stream is not None else None)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            response.close()
            self._guard.cut("compressed")
            raise httpx.DecodingError(
                f"the server sent a {encoding}-compressed reply although the app asked for none", request=request
            )
        response.stream = _CountedStream(response.stream, self._guard, request)
        return response


class _CountedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, guard: CallGuard, request: httpx.Request) -> None:
        self._inner = inner
        self._guard = guard
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        for chunk in self._inner:
            total += len(chunk)
            if total > self._guard.max_bytes:
                self._guard.cut("too_large")
                raise httpx.ReadError("reply too large", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


# A timeout cannot tell why the server was silent, so the hint names both causes instead of guessing one: a
# server loading a model, and one stopping or stuck (found living with the app: a server that closed the
# connection slowly was said to be "still loading").
TIMEOUT_HINT = (
    "it may be loading a model, or stopping or stuck; check that it is running, then try again, "
    "use a smaller model, or raise the timeout"
)


def describe_cut(guard: CallGuard, server: str, timeout_s: float) -> LLMError | None:
    """The error the guard caused (timeout, Cancel, size cap), or None when the guard did not act."""
    if guard.reason == "timeout":
        return LLMError(
            "timeout",
            f"{server} did not answer within {seconds(timeout_s)} s",
            TIMEOUT_HINT,
        )
    if guard.reason == "cancelled":
        return LLMError("cancelled", "the request was cancelled", "")
    if guard.reason == "too_large":
        return LLMError(
            "invalid_reply",
            f"invalid reply: {server} sent more than {guard.max_bytes // (1024 * 1024)} MiB; the app stopped reading",
            "check that the server is a model server, or lower max_tokens",
        )
    if guard.reason == "compressed":
        return LLMError(
            "invalid_reply",
            f"invalid reply: {server} sent a compressed reply although the app asked for none; it was not read",
            "check that the address is the model server itself, not a proxy that compresses",
        )
    return None
