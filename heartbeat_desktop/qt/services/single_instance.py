"""The running app's side of the instance socket: one app per data dir, and a transport for what the CLI asks.

Where it listens, the protocol's version and the CLI's client are Qt-free, in `instance_socket`. Messages are
JSON lines, one request (`core.control.Request.to_message`, plus `"v"`) and one answer each; what a verb does
and answers is `core.control`'s, carried out by the app's `AppControl`. This module only frames, checks the
peer and the version, and writes each answer to the connection that asked (if it is still there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ...core.control import AppControl, BadRequest, Request, Verb, parse_request, perform
from ...instance_lock import InstanceLock, LockUnusable
from ...instance_socket import foreign, request, version_mismatch

log = logging.getLogger(__name__)


SOCKET_CHECK_MS = 30_000


def _let_go(sock: QLocalSocket) -> None:
    """Disconnect our slots from a connection, then delete it later. A socket that is deleted later still has
    its slots until then; if the server goes first (its children go with it), the dying socket reported
    `disconnected` into Python objects already gone — a worker of the test suite segfaulted in the event
    processing after a test that closed the server while a caller's socket awaited deletion."""
    for signal in (sock.disconnected, sock.readyRead):
        # Nothing connected (a refused peer, a second call) warns, or raises under -W error: either is fine.
        with warnings.catch_warnings(), contextlib.suppress(RuntimeError, TypeError, SystemError):
            warnings.simplefilter("ignore", RuntimeWarning)
            signal.disconnect()
    sock.deleteLater()


class InstanceServer(QObject):
    def __init__(
        self,
        name: str,
        control: AppControl,
        parent: QObject | None = None,
        *,
        lock: InstanceLock | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.lock = lock  # the authority on "one app per data directory"; the socket is how to reach it
        self.lock_error: str | None = None
        self._control = control
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        self._buffers: dict[int, bytes] = {}
        self._sockets: dict[int, QLocalSocket] = {}
        self._waiting: dict[int, set[str]] = {}  # per connection: the run-now tokens it still waits for
        # A stat of the socket every so often: its folder can vanish under a running app (see ensure_listening)
        self._check = QTimer(self)
        self._check.setInterval(SOCKET_CHECK_MS)
        self._check.timeout.connect(self.ensure_listening)

    def listen(self) -> bool:
        """Take the lock, then listen; False when another app holds the lock (or, without a lock, answers
        on the socket). A socket left by a crashed instance (nobody answers) is removed first."""
        if self.lock is not None:
            try:
                if not self.lock.acquire(self.name):
                    return False
            except LockUnusable as exc:  # not another app: a lock file that cannot be opened (a directory, a link)
                self.lock_error = str(exc)  # the caller says it
                return False
        if not self._server.listen(self.name):
            try:
                alive = request(self.name, Request(Verb.PING).to_message(), timeout_s=1.0) is not None
            except (ConnectionError, TimeoutError):  # something is there, but it does not answer as an app does
                alive = False
            if alive:  # an app that predates the lock
                if self.lock is not None:
                    self.lock.release()
                return False
            QLocalServer.removeServer(self.name)
            if not self._server.listen(self.name):
                return False
        self._check.start()
        return True

    def ensure_listening(self) -> bool:
        """Listen again if the server stopped: Qt closes a QLocalServer for good when an accept fails (the
        process ran out of descriptors), and the CLI would then find no app and start a second one."""
        if self._server.isListening() and (sys.platform == "win32" or os.path.exists(self.name)):
            return True
        if self._server.isListening():
            # Its folder or the socket itself was removed (a tmp cleaner, a logout's cleanup of the runtime
            # directory): the CLI could not reach us and would think no app runs.
            log.warning("The instance socket %s was removed; listening again", self.name)
            with contextlib.suppress(OSError):
                Path(self.name).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            log.warning("The instance socket stopped listening (%s); listening again", self._server.errorString())
        self._server.close()
        QLocalServer.removeServer(self.name)  # our own private directory: nobody else's socket
        return self._server.listen(self.name)

    def close(self) -> None:
        """Stop listening and let go of every connection first: a socket destroyed with the server would
        otherwise report `disconnected` into Python objects that are already gone (a traceback on quit)."""
        for sock in list(self._sockets.values()):
            if shiboken6.isValid(sock):
                _let_go(sock)
                sock.abort()
        self._sockets.clear()
        self._buffers.clear()
        self._check.stop()
        self._server.close()
        if self.lock is not None:
            self.lock.release()

    @Slot()
    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if foreign(int(sock.socketDescriptor())):
                log.warning("Refused a connection to the instance socket from another user")
                sock.abort()
                _let_go(sock)
                continue
            self._buffers[id(sock)] = b""
            self._sockets[id(sock)] = sock
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))

    def _forget(self, sock: QLocalSocket) -> None:
        # A caller that left (killed, timed out, Ctrl-C) is not answered later: what it waited for is withdrawn,
        # so a retry never makes two runs (the README-only attack: a retried run-now commented twice).
        for token in self._waiting.pop(id(sock), set()):
            self._control.withdraw(token)
        self._buffers.pop(id(sock), None)
        self._sockets.pop(id(sock), None)  # an answer that comes later (a run-now) then goes nowhere
        if shiboken6.isValid(sock):
            _let_go(sock)

    def _on_ready(self, sock: QLocalSocket) -> None:
        data = self._buffers.get(id(sock), b"") + bytes(sock.readAll().data())
        if len(data) > 64 * 1024:
            log.warning("Dropping an oversized request on the instance socket")
            sock.disconnectFromServer()
            return
        *lines, rest = data.split(b"\n")
        self._buffers[id(sock)] = rest
        for line in lines:
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self._reply(sock, {"ok": False, "error": f"bad request: {exc}"})
                continue
            self._handle(sock, message)

    def _handle(self, sock: QLocalSocket, message: dict[str, Any]) -> None:
        mismatch = version_mismatch(message)
        if mismatch is not None:
            self._reply(sock, mismatch)
            return
        try:
            parsed = parse_request(message)
        except BadRequest as exc:
            self._reply(sock, {"ok": False, "error": str(exc)})
            return
        expires = message.get("expires")
        if isinstance(expires, int | float) and not isinstance(expires, bool) and time.time() > expires:
            # The sender gave up (and said so) while this app was not running: stopped, or frozen. Carrying it
            # out now would do what its sender reported as not done.
            log.warning("A %s request arrived after its sender stopped waiting: not carried out", parsed.verb.value)
            self._reply(sock, {"ok": False, "error": "the request expired before the app could read it"})
            return
        answered: list[bool] = []  # most verbs answer at once, inside perform: before its token is known

        def reply(answer: dict[str, Any]) -> None:
            answered.append(True)
            self._answer(sock, answer, token_box[0] if token_box else None)

        token_box: list[str] = []
        token = perform(self._control, parsed, reply)
        if token is not None and not answered:
            token_box.append(token)
            self._waiting.setdefault(id(sock), set()).add(token)

    def _answer(self, sock: QLocalSocket, answer: dict[str, Any], token: str | None = None) -> None:
        """An answer for a connection that may have gone while the app worked on it (a run-now)."""
        if token is not None:
            self._waiting.get(id(sock), set()).discard(token)
        if self._sockets.get(id(sock)) is sock and shiboken6.isValid(sock):
            self._reply(sock, answer)

    @staticmethod
    def _reply(sock: QLocalSocket, payload: dict[str, Any]) -> None:
        sock.write(json.dumps(payload).encode() + b"\n")
        sock.flush()
