"""A tray that comes after the app (#27 item 6): at login the app may start before the panel. The real app on a
real X server (Xvfb) where trayer starts late: the app waits for it, or shows its fallback window and puts it
away when the tray appears — without a dialog.

CI installs Xvfb, trayer and dbus itself (.ci/run); there this test must run, never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GOOD_MD, REPO
from tests.support.xserver import require_tools, start_bus, start_display, start_tray, stop

TOOLS = ("Xvfb", "trayer", "dbus-daemon", "xwininfo")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _shown_windows(env: dict[str, str]) -> list[str]:
    """The names of the windows on the screen itself (children of the root: the app's windows and dialogs,
    trayer's panel; not the icon, which lives inside the panel), skipping Qt's 1x1 helper windows."""
    tree = subprocess.run(["xwininfo", "-root", "-children"], env=env, capture_output=True, text=True).stdout
    names = []
    for line in tree.splitlines():
        line = line.strip()
        if line.startswith("0x") and '"' in line:
            window_id, name = line.split(" ", 1)[0], line.split('"')[1]
            info = subprocess.run(["xwininfo", "-id", window_id], env=env, capture_output=True, text=True).stdout
            if "IsViewable" in info and "Width: 1\n" not in info:
                names.append(name)
    return names


def _app_windows(env: dict[str, str]) -> list[str]:
    return [name for name in _shown_windows(env) if name not in ("panel", "trayer")]


@pytest.fixture
def late_desktop(tmp_path: Path) -> Iterator[tuple[dict[str, str], list[subprocess.Popen]]]:
    """An X display and a session bus, and no tray yet: the test starts trayer when it wants to."""
    require_tools(TOOLS, "late tray test needs")
    procs: list[subprocess.Popen] = []
    try:
        display = start_display(procs)
        address = start_bus(procs)
        env = {**os.environ, "DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": address, "QT_QPA_PLATFORM": "xcb"}
        yield env, procs
    finally:
        stop(procs)


def _start_app(env: dict[str, str], tmp_path: Path, wait_s: int) -> tuple[subprocess.Popen, Path]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    app_env = {
        **env,
        "HEARTBEAT_DATA_DIR": str(data),
        "HEARTBEAT_TRAY_WAIT": str(wait_s),
        "OLLAMA_HOST": "http://127.0.0.1:9",
        "HEARTBEAT_ENABLED": "0",
        "LOG_LEVEL": "INFO",
    }
    app = subprocess.Popen([sys.executable, "-m", "heartbeat_desktop"], cwd=REPO, env=app_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    log_file = data / "logs" / "heartbeat.log"
    _wait(lambda: log_file.exists() and "started (data in" in log_file.read_text(), 20, "the app to start")
    return app, log_file


def test_the_app_waits_for_a_tray_that_comes_after_it(late_desktop, tmp_path: Path) -> None:
    env, procs = late_desktop
    app, log_file = _start_app(env, tmp_path, wait_s=60)  # what Start at login asks for
    try:
        time.sleep(3)  # the panel is slow to come up
        assert "Tray icon shown" not in log_file.read_text() and _app_windows(env) == []
        start_tray(procs, env, settle_s=0)
        _wait(lambda: "Tray icon shown" in log_file.read_text(), 5, "the icon in the late tray")
        text = log_file.read_text()
        assert "A system tray appeared after" in text and "fallback window" not in text
        assert _app_windows(env) == []  # no window, no dialog: just the icon
        assert app.poll() is None
    finally:
        app.terminate()
        app.wait(10)


def test_the_fallback_window_gives_way_to_a_tray_that_comes_later(late_desktop, tmp_path: Path) -> None:
    env, procs = late_desktop
    app, log_file = _start_app(env, tmp_path, wait_s=1)
    try:
        _wait(lambda: _app_windows(env) == ["Heartbeat Desktop"], 10, "the fallback window")
        assert "showing the fallback window until one appears" in log_file.read_text()
        start_tray(procs, env, settle_s=0)
        _wait(lambda: "Tray icon shown" in log_file.read_text(), 15, "the icon in the late tray")
        _wait(lambda: _app_windows(env) == [], 5, "the fallback window to go")
        time.sleep(1)
        assert app.poll() is None  # putting the window away is not closing it (which quits)
        assert _app_windows(env) == []  # and no dialog came instead
        assert "Fallback window put away" in log_file.read_text()
    finally:
        app.terminate()
        app.wait(10)
