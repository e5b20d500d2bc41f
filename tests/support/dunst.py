"""The real dunst notification daemon on a private X display and session bus, for tests.

Its context menu (where a notification's actions are chosen) is a "dmenu" program; ours picks the first
line containing the text in the file `pick`, so a test chooses an action by writing its label there and
running `dunstctl context` — the real daemon then sends the real `ActionInvoked` signal.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.xserver import require_tools, start_bus, start_display, stop

TOOLS = ("dbus-daemon", "Xvfb", "dunst", "dunstctl")


class Dunst:
    def __init__(self, env: dict[str, str], pick: Path) -> None:
        self.env = env
        self._pick = pick

    def ctl(self, *args: str) -> str:
        return subprocess.run(["dunstctl", *args], env=self.env, capture_output=True, text=True, check=True).stdout

    def count(self, which: str) -> int:
        return int(self.ctl("count", which).strip())

    def choose(self, label: str) -> None:
        """Pick the action whose menu line contains `label` from the context menu, as a user would."""
        self._pick.write_text(label, encoding="utf-8")
        self.ctl("context")

    def menu_shown(self) -> list[str]:
        """The lines of the context menu dunst offered the last time `choose` opened it."""
        shown = self._pick.with_name("menu-shown")
        return shown.read_text(encoding="utf-8").splitlines() if shown.exists() else []

    def history_summaries(self) -> list[str]:
        data = json.loads(self.ctl("history"))
        return [item["summary"]["data"] for group in data["data"] for item in group]


@contextmanager
def running_dunst(tmp_path: Path) -> Iterator[Dunst]:
    require_tools(TOOLS)
    procs: list[subprocess.Popen] = []
    try:
        display = start_display(procs)
        env = {**os.environ, "DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": start_bus(procs)}
        pick = tmp_path / "pick"
        pick.write_text("", encoding="utf-8")
        menu = tmp_path / "pick.sh"
        shown = tmp_path / "menu-shown"
        menu.write_text(f'#!/bin/sh\ntee {shown} | grep -m1 -F "$(cat {pick})"\n', encoding="utf-8")
        menu.chmod(0o700)
        config = tmp_path / "dunstrc"
        config.write_text(f"[global]\ndmenu = {menu}\n", encoding="utf-8")
        procs.append(subprocess.Popen(["dunst", "-config", str(config)], env=env, stderr=subprocess.DEVNULL))
        dunst = Dunst(env, pick)
        deadline = time.monotonic() + 10
        while subprocess.run(["dunstctl", "is-paused"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "dunst did not start"
            time.sleep(0.1)
        yield dunst
    finally:
        stop(procs)
