"""Where the running app listens, and the client the CLI uses to talk to it, without Qt.

`heartbeat-desktop status`, `run-now`, `open`, `quit` and every command that tells the app to reload run in
a fresh process for a fraction of a second: loading QtNetwork for one JSON line would cost more than the
answer, and a build or a box without Qt's libraries could not ask the running app anything. So this module
is plain Python (`socket`), and the Qt side (`qt/services/single_instance.py`) serves the same protocol.

Messages are JSON lines, one request and one answer per line: `{"v": 2, "cmd": "ping", "expires": T}`, the
verbs and their fields and answers being `core.control`'s; `expires` (Unix time, optional) is when the sender
stops waiting, after which the app does not carry the request out. `v` is
`PROTOCOL_VERSION`; an app that speaks another version answers `{"ok": false, "error": …, "version": N}` so
a CLI from a newer or older install says "restart the app" instead of misreading an answer. A request
without `v` is taken as version 1 (the clients that predate the field).

Whose socket: Qt would put a bare server name in the shared temp directory, where another user can create it
first — the app then exits "already running", and the CLI's `run-now` and `quit` go to the squatter. On
POSIX the socket is a full path in a directory only this user can enter (`$XDG_RUNTIME_DIR`, else a 0700
directory of ours under the temp directory whose owner and mode are checked, else the data dir), and on
Linux each side checks the other's uid (SO_PEERCRED) before trusting a word it says.

Windows: Qt's local server is a named pipe there; Python's standard library has no pipe client with a
deadline, so on Windows `request` falls back to Qt's QLocalSocket (loaded only there, only then).
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
import time
from pathlib import Path
from typing import Any

from .core.control import Request, Verb
from .core.models import RunRecord
from .instance_lock import holder

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 2  # 2: the status's threads are core.present.thread_status (a list, ISO times)
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
CONNECT_TIMEOUT_S = 0.5  # a listening app accepts at once; longer means its backlog is full (it is stuck)
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a run record is a few kB; a peer that streams forever is cut off


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
        return is_private_dir(os.lstat(Path(path).parent))
    except OSError:
        return False


def is_private_dir(info: os.stat_result) -> bool:
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
        if is_private_dir(info):
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
        sock.detach()  # the descriptor stays its owner's


def foreign(fd: int) -> bool:
    uid = peer_uid(fd)
    return uid is not None and uid != os.getuid()


def version_mismatch(message: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request of another protocol version, or None when the app understands it."""
    version = message.get("v", 1)
    if version == PROTOCOL_VERSION:
        return None
    return {
        "ok": False,
        "version": PROTOCOL_VERSION,
        "error": (
            f"the running app speaks protocol {PROTOCOL_VERSION} and this command line speaks {version!r}: "
            "they come from different installs; quit the app and start it again"
        ),
    }


def request(name: str, payload: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any] | None:
    """Send one request to a running instance and wait for its answer (blocking: for the CLI).

        None means no instance is listening. A connection that breaks mid-answer raises ConnectionError, an app
        that does not answer within `timeout_s` TimeoutError, and an answer that is not one JSON object
    ConnectionError too (both are OSErrors: the CLI reports them in one line).
    """
    # Until when the answer is waited for (wall-clock: another process reads it). An app that was stopped
    # (SIGSTOP, a debugger, a frozen desktop) reads the request only when it runs again, after this command
    # said it failed: it must not carry it out then (a script that retries would run the heartbeat twice).
    message = {"v": PROTOCOL_VERSION, "expires": time.time() + timeout_s, **payload}
    if sys.platform == "win32":
        return _request_qt(name, message, timeout_s)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(name)
        except (TimeoutError, FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            return None  # no socket, or a socket nobody listens on (a crashed app's), or a stuck one
        if foreign(sock.fileno()):
            raise ConnectionError(f"the instance socket {name} belongs to another user; not trusting it")
        deadline = time.monotonic() + timeout_s
        sock.settimeout(max(timeout_s, 0.001))
        sock.sendall(json.dumps(message).encode() + b"\n")
        return _read_answer(sock, deadline, timeout_s)
    finally:
        sock.close()


def _read_answer(sock: socket.socket, deadline: float, timeout_s: float) -> dict[str, Any]:
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the running app did not answer within {timeout_s:g} s")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(f"the running app did not answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise ConnectionError(f"the running app closed the connection ({exc.strerror or exc})") from None
        if not chunk:
            raise ConnectionError("the running app closed the connection")
        data += chunk
        if len(data) > MAX_ANSWER_BYTES:
            raise ConnectionError(f"the running app's answer is over {MAX_ANSWER_BYTES // (1024 * 1024)} MiB")
    return _parse(data.split(b"\n", 1)[0])


def _parse(line: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(line)
    except ValueError as exc:
        raise ConnectionError(f"the running app's answer is not JSON: {exc}") from None
    if not isinstance(answer, dict):
        raise ConnectionError("the running app's answer is not a JSON object")
    return answer


def _request_qt(name: str, message: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    from PySide6.QtNetwork import QLocalSocket  # Windows only: see the module's docstring

    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(int(CONNECT_TIMEOUT_S * 1000)):
        return None
    sock.write(json.dumps(message).encode() + b"\n")
    sock.waitForBytesWritten(1000)
    data = b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in data:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            sock.abort()
            raise TimeoutError(f"the running app did not answer within {timeout_s:g} s")
        if sock.waitForReadyRead(min(remaining_ms, 1000)):
            data += bytes(sock.readAll().data())
        elif sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
            raise ConnectionError("the running app closed the connection")
    with contextlib.suppress(RuntimeError):
        sock.disconnectFromServer()
    return _parse(data.split(b"\n", 1)[0])


def show_running_app(
    data_dir: Path, open_window: str | None, timeout_s: float = 2.0, *, on_stdout: bool = False
) -> bool:
    """Ask the app running for `data_dir` to show itself (or open `open_window`) and say so; False when none
    answers. Every launch asks this first, before Qt is loaded: a second click on the menu entry then costs a
    few milliseconds and never a second app. The line goes to stderr for a launch (its output is the app's),
    to stdout with `on_stdout` (`open WINDOW`, whose success it is, like `close`'s "closed feed")."""
    message = Request(Verb.OPEN, window=open_window) if open_window else Request(Verb.RAISE)
    if request(server_name(data_dir), message.to_message(), timeout_s=timeout_s) is None:
        return False
    what = f"opened {open_window}" if open_window else "showed it"
    print(f"Heartbeat Desktop is already running; {what}.", file=sys.stdout if on_stdout else sys.stderr)
    return True


def run_from_dict(data: dict[str, Any]) -> RunRecord:
    fields = {k: v for k, v in data.items() if k in RunRecord.__dataclass_fields__}
    return RunRecord(**fields)
