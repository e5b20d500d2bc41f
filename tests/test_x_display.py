"""A DISPLAY no X server answers is said in one line before Qt starts (x_display.py), not a SIGABRT with
advice to install xcb-cursor0; and the app's windows carry the WM_CLASS its desktop files name."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
from pathlib import Path

from heartbeat_desktop.autostart import APP_ID, desktop_entry
from heartbeat_desktop.x_display import display_problem, uses_x11
from tests.conftest import REPO


def _free_display(socket_dir: Path = Path("/tmp/.X11-unix")) -> int:
    return next(n for n in range(990, 1100) if not (socket_dir / f"X{n}").exists())


def test_a_display_nobody_listens_on_is_named_with_its_cause(tmp_path: Path) -> None:
    assert display_problem({"DISPLAY": ":99"}, socket_dir=tmp_path) == (
        "cannot connect to display :99 — is the desktop session running? (DISPLAY=:99)"
    )
    (tmp_path / "X7").touch()  # a stale socket file left by a server that died: still not reachable
    assert display_problem({"DISPLAY": "unix:7.0"}, socket_dir=tmp_path) is not None


def test_a_listening_display_passes(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "X5"))
        server.listen()
        assert display_problem({"DISPLAY": ":5.0"}, socket_dir=tmp_path) is None
    with socket.create_server(("127.0.0.1", 0)) as tcp:
        port = tcp.getsockname()[1]
        if port >= 6000:  # host:n is port 6000+n
            assert display_problem({"DISPLAY": f"127.0.0.1:{port - 6000}"}) is None


def test_a_tcp_display_nobody_listens_on_fails_quickly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as tcp:
        port = tcp.getsockname()[1]
    said = display_problem({"DISPLAY": f"127.0.0.1:{port - 6000}"}) if port >= 6000 else "skip"
    assert said is not None and ("cannot connect to display" in said or said == "skip")


def test_only_x11_is_checked() -> None:
    assert uses_x11({"DISPLAY": ":0"}, "linux")
    assert not uses_x11({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert uses_x11({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_x11({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_x11({"DISPLAY": ":0"}, "darwin")


def _app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY")}
    return {**env, "PYTHONPATH": str(REPO), "HEARTBEAT_DATA_DIR": str(tmp_path / "data"), **extra}


def test_the_app_on_a_stale_display_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    """The real entry point, as Start at login and `open` start it (python -m heartbeat_desktop)."""
    number = _free_display()
    env = _app_env(tmp_path, DISPLAY=f":{number}")
    result = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [
        f"heartbeat-desktop: cannot connect to display :{number} — is the desktop session running? (DISPLAY=:{number})"
    ]
    assert "xcb-cursor0" not in result.stderr


def test_the_application_is_named_as_the_desktop_files_say(tmp_path: Path) -> None:
    """Started as `python -m heartbeat_desktop` argv[0] is …/__main__.py, which X11 made the WM_CLASS."""
    probe = (
        "import sys; sys.argv = ['/x/heartbeat_desktop/__main__.py', '--flag'];"
        "from heartbeat_desktop.qt.launch import make_application; app = make_application();"
        "print(app.arguments()[0]); print(app.desktopFileName()); print(app.applicationName())"
    )
    env = _app_env(tmp_path, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == [APP_ID, APP_ID, "Heartbeat Desktop"], out
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(REPO / "packaging" / "linux" / "heartbeat-desktop.desktop")
    assert parser["Desktop Entry"]["StartupWMClass"] == APP_ID
    parser.read_string(desktop_entry(["/usr/bin/heartbeat-desktop"]))
    assert parser["Desktop Entry"]["StartupWMClass"] == APP_ID


def test_open_passes_the_line_on(tmp_path: Path) -> None:
    """`open WINDOW` starts the app in the background (cli/background.py) and says what it said at exit."""
    number = _free_display()
    env = _app_env(tmp_path, DISPLAY=f":{number}")
    result = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "open", "settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"cannot connect to display :{number} — is the desktop session running?" in result.stderr
    assert "signal" not in result.stderr and "xcb-cursor0" not in result.stderr
