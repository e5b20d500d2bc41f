"""One running app per data dir, and the channel the CLI uses to talk to it.

The server name derives from the data dir, so a second profile (`HEARTBEAT_DATA_DIR=…`) or a test runs
beside the user's app. Messages are JSON lines: `{"cmd": "ping"}`, `{"cmd": "raise"}`,
`{"cmd": "open"|"close", "window": NAME}`, `{"cmd": "run-now", "thread": ID, "dry_run": bool}`.
A run-now is carried out by the running app's
scheduler (one writer, its notification shows) and answered when the run ends with the whole run record,
or with `{"ok": false, "error": TEXT, "refused": WHY}` where WHY is a `core.models.Refusal` value.

Whose socket: Qt puts a bare server name in the shared temp directory, where another user can create it
first — the app then exits "already running", and the CLI's `run-now` and `quit` go to the squatter. On
POSIX the socket is a full path in a directory only this user can enter (`$XDG_RUNTIME_DIR`, else a
0700 directory of ours under the temp directory whose owner and mode are checked, else the data dir),
and on Linux each side checks the other's uid (SO_PEERCRED) before trusting a word it says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import stat
import struct
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ...core.models import RunRecord, RunRefused
from ...instance_lock import InstanceLock, holder
from ...window_names import WINDOWS
from .scheduler import HeartbeatScheduler

log = logging.getLogger(__name__)


SOCKET_CHECK_MS = 30_000
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def server_name(data_dir: Path, *, recorded: bool = True) -> str:
    """Where the app for `data_dir` listens. A client (`recorded`) asks the running app's lock first: the app
    may have chosen another directory than this process would ($XDG_RUNTIME_DIR unset under cron, ssh or
    sudo). The app itself chooses afresh (`recorded=False`)."""
    if recorded:
        found = holder(data_dir)
        socket_path = found.get("socket") if found else None
        if isinstance(socket_path, str) and _trusted_socket_path(socket_path):
            return socket_path
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    if sys.platform == "win32":  # a named pipe in the session's namespace, restricted to this user
        return f"heartbeat-desktop-{digest}"
    for directory in _private_dirs(data_dir):
        path = directory / f"{digest}.sock"
        if len(str(path).encode()) <= SOCKET_PATH_MAX:
            return str(path)
    raise OSError("no private directory for the instance socket (set XDG_RUNTIME_DIR)")


def _trusted_socket_path(path: str) -> bool:
    """A recorded socket path is used only in a private directory of this user (or as a Windows pipe name)."""
    if sys.platform == "win32":
        return path.startswith("heartbeat-desktop-")
    try:
        return _is_private_dir(os.lstat(Path(path).parent))
    except OSError:
        return False


def _is_private_dir(info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _private_dirs(data_dir: Path) -> list[Path]:
    """Directories only this user can enter, best first; each is created 0700 and then verified."""
    candidates = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        candidates.append(Path(runtime) / "heartbeat-desktop")
    candidates.append(Path(tempfile.gettempdir()) / f"heartbeat-desktop-{os.getuid()}")
    candidates.append(data_dir / "run")
    found = []
    for directory in candidates:
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(directory)
        except OSError:
            continue
        if _is_private_dir(info):
            found.append(directory)
        else:
            log.warning("Not using %s for the instance socket: not a private directory of this user", directory)
    return found


def peer_uid(fd: int) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), or None where unknown."""
    if fd < 0 or not hasattr(socket, "SO_PEERCRED"):
        return None
    # Borrow the descriptor rather than dup() it: a process out of descriptors (the moment a squatter or a
    # flood is likeliest) could not dup, and the check must not fail open or raise there.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fd)
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        return uid
    except OSError:
        return None
    finally:
        sock.detach()  # the descriptor stays Qt's


def _foreign(fd: int) -> bool:
    uid = peer_uid(fd)
    return uid is not None and uid != os.getuid()


class InstanceServer(QObject):
    raise_requested = Signal()
    open_requested = Signal(str)
    api_reload_requested = Signal()
    quit_requested = Signal()
    reload_requested = Signal()

    def __init__(
        self,
        name: str,
        scheduler: HeartbeatScheduler,
        parent: QObject | None = None,
        *,
        lock: InstanceLock | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.lock = lock  # the authority on "one app per data directory"; the socket is how to reach it
        self.lock_error: str | None = None
        self._scheduler = scheduler
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        self._pending: dict[str, QLocalSocket] = {}
        self._buffers: dict[int, bytes] = {}
        self._sockets: dict[int, QLocalSocket] = {}
        # The app's live view for `status` (its pause, due times, the server it uses), set by the app.
        self.status_provider: Callable[[], dict[str, Any]] | None = None
        # Closes a window now (on this, the GUI thread) and says whether one was open: `heartbeat-desktop close`.
        self.close_handler: Callable[[str], bool] | None = None
        scheduler.request_done.connect(self._on_request_done)
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
            except OSError as exc:  # not another app: a lock file that cannot be opened (a directory, a link)
                self.lock_error = f"cannot take the lock {self.lock.path}: {exc.strerror or exc}"  # caller says it
                return False
        if not self._server.listen(self.name):
            try:
                alive = request(self.name, {"cmd": "ping"}, timeout_s=1.0) is not None
            except (ConnectionError, TimeoutError, ValueError):
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
                sock.disconnected.disconnect()
                sock.readyRead.disconnect()
                sock.abort()
                sock.deleteLater()
        self._sockets.clear()
        self._buffers.clear()
        self._pending.clear()
        self._check.stop()
        self._server.close()
        if self.lock is not None:
            self.lock.release()

    @Slot()
    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if _foreign(int(sock.socketDescriptor())):
                log.warning("Refused a connection to the instance socket from another user")
                sock.abort()
                sock.deleteLater()
                continue
            self._buffers[id(sock)] = b""
            self._sockets[id(sock)] = sock
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))

    def _forget(self, sock: QLocalSocket) -> None:
        self._buffers.pop(id(sock), None)
        self._sockets.pop(id(sock), None)
        for token, pending in list(self._pending.items()):
            if pending is sock:
                del self._pending[token]
        if shiboken6.isValid(sock):
            sock.deleteLater()

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
        cmd = message.get("cmd")
        if cmd == "ping":
            self._reply(sock, {"ok": True, "pid": os.getpid()})
        elif cmd == "raise":
            self.raise_requested.emit()
            self._reply(sock, {"ok": True})
        elif cmd == "quit":
            self._reply(sock, {"ok": True, "pid": os.getpid()})
            sock.flush()
            self.quit_requested.emit()
        elif cmd == "status":
            if self.status_provider is None:
                self._reply(sock, {"ok": False, "error": "status is not available"})
            else:
                self._reply(sock, {"ok": True, "status": self.status_provider()})
        elif cmd == "reload":
            self.reload_requested.emit()
            self._reply(sock, {"ok": True})
        elif cmd == "api-reload":
            self.api_reload_requested.emit()
            self._reply(sock, {"ok": True})
        elif cmd == "open":
            window = message.get("window")
            if window not in WINDOWS:
                self._reply(sock, {"ok": False, "error": f"no window {window!r}; one of {', '.join(WINDOWS)}"})
                return
            self.open_requested.emit(window)
            self._reply(sock, {"ok": True})
        elif cmd == "close":
            window = message.get("window")
            if window not in WINDOWS:
                self._reply(sock, {"ok": False, "error": f"no window {window!r}; one of {', '.join(WINDOWS)}"})
                return
            closed = bool(self.close_handler(window)) if self.close_handler is not None else False
            self._reply(sock, {"ok": True, "closed": closed})
        elif cmd == "run-now":
            thread_id = message.get("thread")
            if not isinstance(thread_id, str):
                self._reply(sock, {"ok": False, "error": "run-now needs a thread id"})
                return
            token = uuid.uuid4().hex
            self._pending[token] = sock
            self._scheduler.run_heartbeat_now(thread_id, bool(message.get("dry_run")), token)
        else:
            self._reply(sock, {"ok": False, "error": f"unknown command {cmd!r}"})

    @Slot(str, object, object)
    def _on_request_done(self, token: str, run: RunRecord | None, refused: RunRefused | None) -> None:
        sock = self._pending.pop(token, None)
        if sock is None:
            return
        if run is None:
            why = refused.why if refused else None
            error = refused.message if refused else "the run gave no result"
            self._reply(sock, {"ok": False, "error": error, "refused": why})
        else:
            self._reply(sock, {"ok": True, "run": run.to_dict()})

    @staticmethod
    def _reply(sock: QLocalSocket, payload: dict[str, Any]) -> None:
        sock.write(json.dumps(payload).encode() + b"\n")
        sock.flush()


def request(name: str, payload: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any] | None:
    """Send one request to a running instance and wait for its answer (blocking: for the CLI).

    None means no instance is listening. A connection that breaks mid-answer raises ConnectionError.
    """
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(500):
        return None
    if _foreign(int(sock.socketDescriptor())):
        sock.abort()
        raise ConnectionError(f"the instance socket {name} belongs to another user; not trusting it")
    sock.write(json.dumps(payload).encode() + b"\n")
    sock.waitForBytesWritten(1000)
    data = b""
    remaining_ms = int(timeout_s * 1000)
    while b"\n" not in data:
        step = min(remaining_ms, 1000)
        if step <= 0:
            sock.abort()
            raise TimeoutError(f"the running app did not answer within {timeout_s:g} s")
        if sock.waitForReadyRead(step):
            data += bytes(sock.readAll().data())
        elif sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
            raise ConnectionError("the running app closed the connection")
        remaining_ms -= step
    sock.disconnectFromServer()
    return json.loads(data.split(b"\n", 1)[0])


def run_from_dict(data: dict[str, Any]) -> RunRecord:
    fields = {k: v for k, v in data.items() if k in RunRecord.__dataclass_fields__}
    return RunRecord(**fields)
