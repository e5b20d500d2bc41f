"""The instance socket: where it lives, and whom it trusts.

Qt put the socket, named by a hash of the data dir, in the shared temp directory; another user could
create it first — the app then exited "already running" and `run-now`/`quit` went to the squatter. These
tests use a second real uid (they run as root in CI, and drop to `nobody` in a child process).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.instance_socket import request, server_name
from heartbeat_desktop.qt.services.single_instance import InstanceServer
from tests.qt.app_parts import RecordingApp

NOBODY = 65534
# The other user's process runs the system Python: the test's own interpreter may live in root's home.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or SYSTEM_PYTHON is None, reason="needs root and a system python3 to act as another user"
)


def test_the_socket_lives_in_a_private_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: a socket path holds ~100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = Path(server_name(tmp_path / "data"))
    assert path.parent == runtime / "heartbeat-desktop"
    info = path.parent.stat()
    assert info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    temp = Path(tempfile.mkdtemp(prefix="tmp-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    fallback = Path(server_name(tmp_path / "data"))
    assert fallback.parent == temp / f"heartbeat-desktop-{os.getuid()}"
    assert stat.S_IMODE(fallback.parent.stat().st_mode) == 0o700


@needs_root
def test_a_directory_planted_by_another_user_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    temp = Path(tempfile.mkdtemp(prefix="tmp-", dir="/tmp"))  # stands in for the shared temp directory
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    planted = temp / f"heartbeat-desktop-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, NOBODY, NOBODY)  # the squatter got there first
    data = temp / "data"
    data.mkdir()
    path = Path(server_name(data))
    assert path.parent == data / "run" and not str(path).startswith(str(planted))


def _as_nobody(script: str, shared: Path) -> subprocess.Popen[str]:
    def drop() -> None:
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    return subprocess.Popen(
        [SYSTEM_PYTHON or "python3", "-c", textwrap.dedent(script), str(shared)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=drop,
        cwd="/",
    )


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory both users can use (as the shared temp directory is)."""
    directory = Path(tempfile.mkdtemp(prefix="shared-", dir="/tmp"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@needs_root
def test_another_users_process_is_refused_by_the_app(qtbot, shared: Path) -> None:
    name = str(shared / "app.sock")
    app = RecordingApp(shared / "unused.db")
    server = InstanceServer(name, app.control)
    assert server.listen()
    os.chmod(name, 0o777)  # even a socket anyone may open is not enough
    child = _as_nobody(
        """
        import json, socket, sys
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1] + "/app.sock")
        s.settimeout(30)
        try:  # the app may cut before the request is written: a broken pipe is a cut too
            s.sendall(json.dumps({"cmd": "quit"}).encode() + b"\\n")
            print("answered" if s.recv(4096) else "cut")
        except (ConnectionResetError, BrokenPipeError):
            print("cut")
        except TimeoutError:
            print("no answer and not cut")
        """,
        shared,
    )
    qtbot.waitUntil(lambda: child.poll() is not None, timeout=40000)
    out = child.stdout.read()
    assert out.strip() == "cut", out + child.stderr.read()  # cut without an answer
    qtbot.wait(100)  # a quit would be carried out on the next turn of the loop
    assert app.calls == []
    server.close()


@needs_root
def test_a_server_of_another_user_is_not_trusted_by_the_cli(qtbot, shared: Path) -> None:
    child = _as_nobody(
        """
        import json, os, socket, sys
        path = sys.argv[1] + "/squat.sock"
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        os.chmod(path, 0o777)
        s.listen(1)
        print("ready", flush=True)
        conn, _ = s.accept()
        conn.recv(4096)
        conn.sendall(json.dumps({"ok": True, "pid": 1, "run": {"status": "ok"}}).encode() + b"\\n")
        conn.close()
        """,
        shared,
    )
    assert child.stdout.readline().strip() == "ready"
    with pytest.raises(ConnectionError, match="belongs to another user"):
        request(str(shared / "squat.sock"), {"cmd": "ping"}, timeout_s=3)
    child.kill()
    child.wait(5)


def test_the_server_listens_again_after_qt_gave_up(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    server = InstanceServer(server_name(tmp_path / "data"), RecordingApp(tmp_path / "x.db").control)
    assert server.listen()
    server._server.close()  # what Qt does when an accept fails for want of descriptors
    assert request(server.name, {"cmd": "ping"}, timeout_s=1) is None
    assert server.ensure_listening()
    answers: list = []
    import threading

    threading.Thread(target=lambda: answers.append(request(server.name, {"cmd": "ping"}, timeout_s=20))).start()
    qtbot.waitUntil(lambda: bool(answers), timeout=30_000)
    assert answers[0]["ok"] is True
    server.close()


def test_a_client_of_another_protocol_version_gets_a_clear_answer(qtbot, tmp_path: Path, monkeypatch) -> None:
    """A command line from another install must not misread the app's answers: it is told, in words."""
    import threading

    from heartbeat_desktop.instance_socket import PROTOCOL_VERSION

    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    app = RecordingApp(tmp_path / "x.db")
    server = InstanceServer(server_name(tmp_path / "data"), app.control)
    assert server.listen()
    answers: list = []
    for count, message in enumerate(({"cmd": "quit", "v": PROTOCOL_VERSION + 1}, {"cmd": "ping"}), start=1):
        threading.Thread(target=lambda m=message: answers.append(request(server.name, m, timeout_s=20))).start()
        qtbot.waitUntil(lambda n=count: len(answers) == n, timeout=30_000)
    server.close()
    newer, current = answers
    assert newer["ok"] is False and newer["version"] == PROTOCOL_VERSION
    assert "protocol" in newer["error"] and "start it again" in newer["error"]
    qtbot.wait(100)
    assert app.asked("quit") == []  # not carried out
    assert current["ok"] is True  # the client's own version is understood


def _serve_once(path: Path, reply: Callable[[socket.socket], None]) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(4096)
            try:
                reply(conn)
            except OSError:
                pass  # the client hung up: what the test wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_client_gives_up_on_an_answer_that_trickles_or_never_ends(tmp_path: Path) -> None:
    """A hostile or stuck peer: bytes that trickle without a newline hit the deadline; a flood without one is
    cut at the size limit; garbage is an error in words. None of them hangs the command line."""
    import time

    from heartbeat_desktop import instance_socket

    def trickle(conn: socket.socket) -> None:
        for _ in range(100):
            conn.sendall(b"{")
            time.sleep(0.1)

    _serve_once(tmp_path / "t.sock", trickle)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer within 1 s"):
        request(str(tmp_path / "t.sock"), {"cmd": "status"}, timeout_s=1)
    assert time.monotonic() - started < 5  # the deadline is the whole answer's, not each chunk's

    def flood(conn: socket.socket) -> None:
        chunk = b"x" * 65536
        for _ in range(instance_socket.MAX_ANSWER_BYTES // len(chunk) + 10):
            conn.sendall(chunk)

    _serve_once(tmp_path / "f.sock", flood)
    with pytest.raises(ConnectionError, match="over 16 MiB"):
        request(str(tmp_path / "f.sock"), {"cmd": "status"}, timeout_s=60)

    _serve_once(tmp_path / "g.sock", lambda conn: conn.sendall(b"[1, 2]\n"))
    with pytest.raises(ConnectionError, match="not a JSON object"):
        request(str(tmp_path / "g.sock"), {"cmd": "status"}, timeout_s=20)
    _serve_once(tmp_path / "h.sock", lambda conn: conn.close())
    with pytest.raises(ConnectionError, match="closed the connection"):
        request(str(tmp_path / "h.sock"), {"cmd": "status"}, timeout_s=20)


def test_a_second_launch_facing_a_mute_instance_says_so_without_a_traceback(tmp_path: Path, monkeypatch) -> None:
    """Found by the adversarial pass: with the running app out of descriptors, a second launch died on an
    uncaught ConnectionError. Stand-in: a socket at the instance's name that accepts and hangs up."""
    import socket as socketlib
    import subprocess
    import sys
    import threading

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    data = tmp_path / "data"
    data.mkdir()
    listener = socketlib.socket(socketlib.AF_UNIX)
    listener.bind(server_name(data))
    listener.listen()

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop"], env=env, capture_output=True, text=True, timeout=30
        )
    finally:
        listener.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "seems to be running but did not answer" in result.stderr


def test_every_verb_reaches_the_app_through_the_socket(qtbot, tmp_path: Path, monkeypatch) -> None:
    """The socket is a transport over core.control: each verb a client sends ends up in the app's one
    implementation (the recording hooks), answered as core.control says, whatever the verb."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    app = RecordingApp(tmp_path / "x.db", open_windows=("feed",))
    server = InstanceServer(server_name(tmp_path / "data"), app.control)
    assert server.listen()
    messages = [
        {"cmd": "reload"},
        {"cmd": "api-reload"},
        {"cmd": "open", "window": "threads"},
        {"cmd": "close", "window": "feed"},
        {"cmd": "close", "window": "feed"},
        {"cmd": "raise"},
        {"cmd": "unload-models"},
        {"cmd": "pause"},
        {"cmd": "status"},
        {"cmd": "open", "window": "nope"},
        {"cmd": "quit"},
    ]
    answers: list = []
    threading.Thread(
        target=lambda: answers.extend(request(server.name, m, timeout_s=20) for m in messages), daemon=True
    ).start()
    qtbot.waitUntil(lambda: len(answers) == len(messages), timeout=30_000)
    qtbot.waitUntil(lambda: bool(app.asked("quit")), timeout=5000)  # carried out after its answer
    server.close()
    assert [name for name, _ in app.calls] == [
        "reload", "api-reload", "open", "close", "close", "raise", "unload-models", "quit"
    ]  # fmt: skip
    assert app.asked("open") == ["threads"]
    assert answers[3] == {"ok": True, "closed": True} and answers[4] == {"ok": True, "closed": False}
    assert answers[7] == {"ok": True, "paused": True, "already": False}
    assert answers[8] == {"ok": True, "status": {"paused": False, "threads": []}}
    assert answers[9]["ok"] is False and "no window 'nope'" in answers[9]["error"]
    assert answers[10]["ok"] is True and answers[10]["pid"] == os.getpid()


def test_a_request_read_after_its_sender_gave_up_is_not_carried_out(qtbot, tmp_path: Path, monkeypatch) -> None:
    """Found by the README-only attack (#25): with the app stopped (SIGSTOP), `run-now` and `quit` failed with
    "did not answer", then were carried out when the app ran again — a script that retried ran twice. Every
    request says until when its sender waits; one read later is answered, not done."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    app = RecordingApp(tmp_path / "x.db")
    server = InstanceServer(server_name(tmp_path / "data"), app.control)
    assert server.listen()
    answers: list = []
    late = {"cmd": "quit", "expires": time.time() - 1}  # as the app reads it once it runs again
    threading.Thread(target=lambda: answers.append(request(server.name, late, timeout_s=20)), daemon=True).start()
    qtbot.waitUntil(lambda: len(answers) == 1, timeout=30_000)
    threading.Thread(target=lambda: answers.append(request(server.name, {"cmd": "reload"}, 20)), daemon=True).start()
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=30_000)
    server.close()
    assert answers[0] == {"ok": False, "error": "the request expired before the app could read it"}
    assert app.asked("quit") == [] and app.asked("reload") == [None]  # a timely one still is


def test_closing_a_window_happens_after_the_request_handler_returns(qtbot, tmp_path: Path) -> None:
    """Found living with #27: `close editor` with unsaved text ran the editor's "Save them?" dialog inside the
    socket's read handler; the client gave up after 5 s, its connection was freed under the handler, and Cancel
    crashed the app (SIGSEGV). Closing is now carried out from the event loop, after the handler returned."""
    app = RecordingApp(tmp_path / "x.db", open_windows=("editor",))
    answers: list[bool] = []
    app.control.close_window("editor", answers.append)
    assert app.calls == [] and answers == []  # nothing ran inside the caller
    qtbot.waitUntil(lambda: answers == [True], timeout=3000)
    assert app.asked("close") == ["editor"]
