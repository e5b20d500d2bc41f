"""One app per data directory however it is launched (#22 item 3): the lock in the data directory decides,
and the socket is found through it. Real app processes, offscreen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartbeat_desktop.instance_lock import InstanceLock, holder
from tests.conftest import REPO
from tests.support.lock_holder import lock_held_elsewhere


def _env(data: Path, home: Path, runtime: Path | None) -> dict[str, str]:
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen", "HOME": str(home)}
    env |= {"HEARTBEAT_TRAY_WAIT": "0", "OLLAMA_HOST": "http://127.0.0.1:9", "HEARTBEAT_ENABLED": "0"}
    env.pop("XDG_RUNTIME_DIR", None)
    if runtime is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
def places(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: a socket path holds ~100 bytes
    os.chmod(runtime, 0o700)
    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    home.mkdir()
    yield data, home, runtime
    shutil.rmtree(runtime, ignore_errors=True)


def _status(env: dict[str, str]) -> dict:
    result = _cli(env, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _wait_running(env: dict[str, str], timeout_s: float = 30) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        status = _status(env)
        if status["app_running"]:
            return status
        time.sleep(0.3)
    raise AssertionError("the app did not come up")


def test_two_launches_at_once_leave_one_app_and_cli_without_runtime_dir_finds_it(places) -> None:
    data, home, runtime = places
    env = _env(data, home, runtime)
    apps = [
        subprocess.Popen([sys.executable, "-m", "heartbeat_desktop"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    try:
        status = _wait_running(env)
        end = time.monotonic() + 40
        while all(app.poll() is None for app in apps) and time.monotonic() < end:
            time.sleep(0.2)
        done = [app for app in apps if app.poll() is not None]
        alive = [app for app in apps if app.poll() is None]
        assert len(done) == 1 and len(alive) == 1, [app.poll() for app in apps]
        assert done[0].returncode == 0
        assert "already running" in done[0].communicate(timeout=10)[1]
        assert status["app_pid"] == alive[0].pid
        # cron, ssh, sudo: no XDG_RUNTIME_DIR, so this process would choose another directory for the socket
        bare = _env(data, home, None)
        assert _status(bare)["app_pid"] == alive[0].pid
        third = _cli(bare)  # a launch from there too shows the running app instead of starting another
        assert third.returncode == 0 and "already running; showed it" in third.stderr, third.stderr
        assert _cli(bare, "quit").returncode == 0
        alive[0].wait(timeout=30)
    finally:
        for app in apps:
            if app.poll() is None:
                app.kill()
                app.wait()
    assert holder(data) is None  # released: the next start takes it


def test_the_lock_is_released_when_the_holder_dies_and_records_its_socket(tmp_path: Path) -> None:
    with lock_held_elsewhere(tmp_path, "/x/y.sock") as child:
        assert holder(tmp_path) == {"pid": child.pid, "socket": "/x/y.sock"}
        assert not InstanceLock(tmp_path).acquire("/mine.sock")
    assert holder(tmp_path) is None  # the kernel let go with the process: no stale lock after a crash
    mine = InstanceLock(tmp_path)
    assert mine.acquire("/mine.sock")
    mine.release()


def test_a_lock_file_others_can_write_is_not_believed(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path)
    assert lock.acquire("/planted.sock")
    try:
        os.chmod(lock.path, 0o666)
        assert holder(tmp_path) is None
        os.chmod(lock.path, 0o600)
        assert holder(tmp_path) == {"pid": os.getpid(), "socket": "/planted.sock"}
    finally:
        lock.release()


def test_the_socket_comes_back_when_its_folder_is_removed(qtbot, tmp_path: Path, monkeypatch) -> None:
    from heartbeat_desktop.instance_socket import request, server_name
    from heartbeat_desktop.qt.services.single_instance import InstanceServer
    from tests.qt.app_parts import RecordingApp

    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    data = tmp_path / "data"
    data.mkdir()
    app = RecordingApp(tmp_path / "x.db")
    server = InstanceServer(server_name(data, recorded=False), app.control, lock=InstanceLock(data))
    try:
        assert server.listen()
        assert server_name(data) == server.name  # a client finds it through the lock
        shutil.rmtree(runtime / "heartbeat-desktop")  # a tmp cleaner, a logout's cleanup
        assert server.ensure_listening()  # what the periodic check does
        assert os.path.exists(server.name)
        answers: list = []
        import threading

        asker = threading.Thread(target=lambda: answers.append(request(server.name, {"cmd": "ping"}, timeout_s=20)))
        asker.start()
        qtbot.waitUntil(lambda: bool(answers), timeout=30_000)  # deadlines far above a busy machine's seconds
        asker.join(timeout=5)
        assert answers[0]["ok"] is True
    finally:
        server.close()
        shutil.rmtree(runtime, ignore_errors=True)
    assert holder(data) is None


def test_a_lock_file_that_cannot_be_opened_is_an_error_not_another_app(qtbot, tmp_path: Path, monkeypatch) -> None:
    """Found by a README-only attack: a directory (or a link) named app.lock made every launch say "already
    running" and exit 0 with no app running."""
    from heartbeat_desktop.instance_socket import server_name
    from heartbeat_desktop.qt.services.single_instance import InstanceServer
    from tests.qt.app_parts import RecordingApp

    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    data = tmp_path / "data"
    (data / "app.lock").mkdir(parents=True)
    app = RecordingApp(tmp_path / "x.db")
    server = InstanceServer(server_name(data, recorded=False), app.control, lock=InstanceLock(data))
    assert not server.listen()
    assert server.lock_error is not None and "app.lock" in server.lock_error and "directory" in server.lock_error
    server.close()


def test_quit_says_when_the_app_holds_the_lock_but_does_not_answer(places) -> None:
    data, home, runtime = places
    lock = InstanceLock(data)
    assert lock.acquire(str(runtime / "heartbeat-desktop" / "gone.sock"))  # its socket is being re-created
    try:
        result = _cli(_env(data, home, runtime), "quit")
    finally:
        lock.release()
    assert result.returncode == 1 and "is running but its control socket did not answer" in result.stderr, result
    assert "not running" not in result.stdout


def test_the_command_line_talks_to_the_running_app_without_loading_qt(places) -> None:
    """status, run-now, open, close and quit are a few JSON lines to the running app: the plain-socket client
    answers them in a process that never loads PySide6 (#23: fast, and possible where Qt cannot load)."""
    data, home, runtime = places
    env = _env(data, home, runtime)
    app = subprocess.Popen([sys.executable, "-m", "heartbeat_desktop"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    script = (
        "import contextlib, io, json, sys\n"
        "from heartbeat_desktop.cli import main\n"
        "codes = {}\n"
        "for args in (['status', '--json'], ['run-now', '--dry-run'], ['open', 'feed'], ['close', 'feed'],"
        " ['quit']):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        codes[args[0]] = [main(args), out.getvalue()]\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'heartbeat_desktop.qt')))\n"
        "print(json.dumps({'codes': codes, 'qt': qt}))\n"
    )
    try:
        _wait_running(env)
        result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout.splitlines()[-1])
        assert found["qt"] == []
        codes = found["codes"]
        assert json.loads(codes["status"][1])["app_running"] is True
        # The running app did the dry run: no model server here, so it failed there and said so here.
        assert codes["run-now"][0] == 1 and "cannot reach" in codes["run-now"][1].lower(), codes["run-now"]
        assert codes["open"] == [0, "Heartbeat Desktop is already running; opened feed.\n"]  # success: stdout
        assert codes["close"] == [0, "closed feed\n"]
        assert codes["quit"][0] == 0
        assert app.wait(timeout=30) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
