"""The instance socket: where it lives, and whom it trusts.

Qt put the socket, named by a hash of the data dir, in the shared temp directory; another user could
create it first — the app then exited "already running" and `run-now`/`quit` went to the squatter. These
tests use a second real uid (they run as root in CI, and drop to `nobody` in a child process).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.qt.services.single_instance import InstanceServer, request, server_name

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
    from heartbeat_desktop.qt.services.scheduler import HeartbeatScheduler

    name = str(shared / "app.sock")
    scheduler = HeartbeatScheduler(shared / "unused.db", lambda store: None)  # not started: only its signals
    server = InstanceServer(name, scheduler)
    assert server.listen()
    os.chmod(name, 0o777)  # even a socket anyone may open is not enough
    child = _as_nobody(
        """
        import json, socket, sys
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1] + "/app.sock")
        s.sendall(json.dumps({"cmd": "quit"}).encode() + b"\\n")
        s.settimeout(30)
        try:
            print("answered" if s.recv(4096) else "cut")
        except ConnectionResetError:
            print("cut")
        except TimeoutError:
            print("no answer and not cut")
        """,
        shared,
    )
    quits: list[bool] = []
    server.quit_requested.connect(lambda: quits.append(True))
    qtbot.waitUntil(lambda: child.poll() is not None, timeout=40000)
    out = child.stdout.read()
    assert out.strip() == "cut", out + child.stderr.read()  # cut without an answer
    assert quits == []
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
    from heartbeat_desktop.qt.services.scheduler import HeartbeatScheduler

    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    scheduler = HeartbeatScheduler(tmp_path / "x.db", lambda store: None)
    server = InstanceServer(server_name(tmp_path / "data"), scheduler)
    assert server.listen()
    server._server.close()  # what Qt does when an accept fails for want of descriptors
    assert request(server.name, {"cmd": "ping"}, timeout_s=1) is None
    assert server.ensure_listening()
    answers: list = []
    import threading

    threading.Thread(target=lambda: answers.append(request(server.name, {"cmd": "ping"}, timeout_s=5))).start()
    qtbot.waitUntil(lambda: bool(answers), timeout=5000)
    assert answers[0]["ok"] is True
    server.close()


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
