"""Start at login, the way each desktop expects it (Qt-free: plain files and, on Windows, the registry).

- Linux (and other XDG desktops): a `.desktop` file in `$XDG_CONFIG_HOME/autostart/`.
- macOS: a LaunchAgent plist in `~/Library/LaunchAgents/` with RunAtLoad.
- Windows: a value under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.

The command is the one that started this process (a frozen bundle's executable, or this Python running
the package), so it keeps working from a venv, a wheel install or the PyInstaller bundle.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

APP_ID = "heartbeat-desktop"
LABEL = "io.github.heartbeat-desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# At login the panel (and its tray) may come up after the app: how long the app waits for it before showing
# its fallback window (#27 item 6; qt/tray_wait.py). Said in the Linux entry, where trays come late.
AT_LOGIN_TRAY_WAIT_S = 60


def app_command() -> list[str]:
    """This program, started again the way it runs now: the bundle's executable, or this Python with the
    package (also what `open WINDOW` starts in the background, cli/background.py)."""
    return [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "heartbeat_desktop"]


def launch_command(environ: dict[str, str] | None = None, platform: str = sys.platform) -> list[str]:
    """This app as it runs now. A profile chosen with HEARTBEAT_DATA_DIR is carried along (through `env`
    where there is one), or Start at login would open the default profile, not the one that asked."""
    command = app_command()
    data_dir = (os.environ if environ is None else environ).get("HEARTBEAT_DATA_DIR")
    if data_dir and platform != "win32":
        command = ["/usr/bin/env", f"HEARTBEAT_DATA_DIR={Path(data_dir).expanduser().resolve()}", *command]
    return command


def at_login(command: list[str]) -> list[str]:
    """The command as Start at login runs it on an XDG desktop: told to wait for a late tray."""
    wait = f"HEARTBEAT_TRAY_WAIT={AT_LOGIN_TRAY_WAIT_S}"
    if command[:1] == ["/usr/bin/env"]:
        return [command[0], wait, *command[1:]]
    return ["/usr/bin/env", wait, *command]


def desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(_desktop_quote(part) for part in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Heartbeat Desktop\n"
        "Comment=Gives your personal AI agent a heartbeat\n"
        f"Exec={exec_line}\n"
        "Icon=heartbeat-desktop\n"
        "Terminal=false\n"
        "Categories=Utility;\n"
        f"StartupWMClass={APP_ID}\n"  # the WM_CLASS the app sets (qt/launch.py make_application)
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


def _desktop_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (reserved characters need double quotes)."""
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`%"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("%", "%%")


def launch_agent_plist(command: list[str]) -> bytes:
    import plistlib  # macOS only; plistlib pulls in the XML parser, which Linux never needs at launch

    return plistlib.dumps(
        {"Label": LABEL, "ProgramArguments": command, "RunAtLoad": True, "ProcessType": "Interactive"}
    )


def windows_run_value(command: list[str]) -> str:
    import subprocess

    return subprocess.list2cmdline(command)


class Autostart:
    """enabled() / set_enabled(bool) for the current platform; paths are injectable for tests."""

    def __init__(self, platform: str = sys.platform, home: Path | None = None, command: list[str] | None = None):
        self.platform = platform
        self.home = home or Path.home()
        self.command = command or launch_command()

    @property
    def path(self) -> Path | None:
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        if self.platform == "win32":
            return None
        config = os.environ.get("XDG_CONFIG_HOME") if self.home == Path.home() else None
        base = Path(config) if config else self.home / ".config"
        return base / "autostart" / f"{APP_ID}.desktop"

    def enabled(self) -> bool:
        if self.platform == "win32":
            return self._win_get() is not None
        assert self.path is not None
        return self.path.exists()

    def set_enabled(self, on: bool) -> None:
        if self.platform == "win32":
            self._win_set(on)
            return
        assert self.path is not None
        if not on:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.platform == "darwin":
            data = launch_agent_plist(self.command)
        else:
            data = desktop_entry(at_login(self.command)).encode()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def add_tray_wait(self) -> bool:
        """An XDG entry written before the app waited for a late tray (#27 item 6) starts it without
        HEARTBEAT_TRAY_WAIT, so at login it would give up on the panel after a few seconds. Add the wait to
        its Exec line and change nothing else (the entry may start another profile or program path on
        purpose). True when the entry was changed; an absent entry stays absent."""
        if self.platform in ("darwin", "win32") or self.path is None or not self.path.exists():
            return False
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        index = next((i for i, line in enumerate(lines) if line.startswith("Exec=")), None)
        if index is None or "HEARTBEAT_TRAY_WAIT=" in lines[index]:
            return False
        command = lines[index][len("Exec=") :]
        wait = f"HEARTBEAT_TRAY_WAIT={AT_LOGIN_TRAY_WAIT_S} "
        env = "/usr/bin/env "
        command = env + wait + (command[len(env) :] if command.startswith(env) else command)
        lines[index] = "Exec=" + command
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, self.path)
        return True

    def _win_get(self) -> str | None:  # pragma: no cover - Windows only
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                return str(winreg.QueryValueEx(key, "HeartbeatDesktop")[0])
        except OSError:
            return None

    def _win_set(self, on: bool) -> None:  # pragma: no cover - Windows only
        winreg = _winreg()
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            if on:
                winreg.SetValueEx(key, "HeartbeatDesktop", 0, winreg.REG_SZ, windows_run_value(self.command))
            else:
                try:
                    winreg.DeleteValue(key, "HeartbeatDesktop")
                except FileNotFoundError:
                    pass


def _winreg() -> Any:  # pragma: no cover - Windows only
    """The registry module, typed loosely: the type checker runs on Linux, where its stubs are empty."""
    return importlib.import_module("winreg")
