"""Can the X display in DISPLAY be reached? Asked before Qt is started on X11 (Qt-free: sockets only).

Qt's xcb plugin, given a DISPLAY no X server answers (a stale `DISPLAY=:99` left in a shell, a session that
ended), aborts the process (SIGABRT) and advises installing xcb-cursor0 — advice that sends the user the wrong
way. A quick, bounded connect to the display's socket says the real cause in one line instead.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

X_SOCKET_DIR = Path("/tmp/.X11-unix")
X_TCP_BASE = 6000
CONNECT_TIMEOUT_S = 1.0
# [host]:display[.screen]; host may be "unix", a name, an IPv4 address or a bracketed/plain IPv6 one.
_DISPLAY = re.compile(r"^(?P<host>.*):(?P<number>\d+)(?:\.\d+)?$")


def uses_x11(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Qt will talk to an X server: Linux or a BSD, and xcb chosen or (without Wayland) the default."""
    if platform in ("win32", "darwin"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def display_problem(environ: Mapping[str, str], socket_dir: Path = X_SOCKET_DIR) -> str | None:
    """None if the X display in DISPLAY accepts a connection (or its form is one this cannot judge, left to
    Qt); else the one line to tell the user. Bounded: at most CONNECT_TIMEOUT_S per address tried."""
    display = environ.get("DISPLAY", "")
    match = _DISPLAY.match(display)
    if match is None:
        if not display:
            return None  # the caller says "no graphical session" for this already (cli/app.py)
        return f"cannot connect to display {display} — it is not a valid X display name (DISPLAY={display})"
    host, number = match["host"], int(match["number"])
    if host.startswith("/"):
        return None  # a socket path (XQuartz's launchd display): Qt knows how to reach it
    if host in ("", "unix"):
        reachable = _unix_reachable(socket_dir / f"X{number}")
    else:
        reachable = _tcp_reachable(host.strip("[]"), X_TCP_BASE + number)
    if reachable:
        return None
    shown = display if host else f":{number}"
    return f"cannot connect to display {shown} — is the desktop session running? (DISPLAY={display})"


def _unix_reachable(path: Path) -> bool:
    """The socket file, or on Linux the same name in the abstract namespace (where X servers also listen,
    and a sandbox may see only that one)."""
    addresses = [str(path)] + (["\0" + str(path)] if sys.platform.startswith("linux") else [])
    for address in addresses:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(address)
            except OSError:
                continue
            return True
    return False


def _tcp_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False
