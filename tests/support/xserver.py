"""A private X display (Xvfb, on a free display number it picks itself) with a system tray (trayer), and a
private D-Bus bus.

Shared by the desktop integration test, the notification and presence tests, the keyring tests, the frozen
smoke test and the launch benchmark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time


def require_tools(tools: tuple[str, ...] | list[str], needs: str = "needs") -> None:
    """Skip where a system tool is missing, but fail on CI: there `.ci/run` installs them, so a missing one is a
    missing install step, never a reason to pass."""
    import pytest  # here: the benchmarks and the frozen smoke test use this module without pytest

    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"{needs} {', '.join(missing)} (packaging/install-system-deps.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop what the starters below appended, last first; one that ignores SIGTERM for 5 s is killed, so a slow
    daemon can neither hang the caller nor lose its results."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_display(procs: list[subprocess.Popen], screen: str = "1280x800x24") -> str:
    """Start Xvfb; return its DISPLAY (":N"). The process is appended to `procs` for the caller to stop."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    procs.append(xvfb)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        return f":{fh.readline().strip()}"


def start_tray(procs: list[subprocess.Popen], env: dict[str, str], settle_s: float = 1.0) -> None:
    """Start trayer on the display in `env` and give it a moment to claim the tray selection."""
    procs.append(
        subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "28"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    )
    time.sleep(settle_s)


def start_bus(procs: list[subprocess.Popen], env: dict[str, str] | None = None) -> str:
    """Start a private dbus-daemon (session configuration); return its address. `env` matters when the bus
    activates services that need a display (the keyring's password prompt)."""
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    procs.append(bus)
    assert bus.stdout is not None
    return bus.stdout.readline().strip()
