"""The real app on a real X server with a system tray (Xvfb + trayer) and a notification service on a
private session bus, driven through its CLI against a loopback Ollama-protocol server.

CI installs Xvfb, trayer and dbus itself (.ci/run); there this test must run, never skip.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GOOD_MD, REPO
from tests.support.ollama_server import Error, OllamaServer, Reply
from tests.support.xserver import require_tools, start_bus, start_display, start_tray, stop

TOOLS = ("Xvfb", "trayer", "dbus-daemon")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An X display with a tray and a session bus with a recording notification server."""
    require_tools(TOOLS, "desktop integration test needs")
    procs: list[subprocess.Popen] = []
    try:
        display = start_display(procs)
        address = start_bus(procs)
        env = {**os.environ, "DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": address, "QT_QPA_PLATFORM": "xcb"}
        start_tray(procs, env, settle_s=0)
        notes = tmp_path / "notifications.jsonl"
        listener = subprocess.Popen(
            [sys.executable, "-m", "tests.support.notification_server", str(notes)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(listener)
        assert listener.stdout.readline().strip() == "ready"
        yield {**env, "NOTES": str(notes)}
    finally:
        stop(procs)


def _notes(path: str) -> list[dict]:
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def test_tray_app_notifies_a_post_and_a_failure_and_quits_on_sigterm(desktop: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = OllamaServer().start()
    env = {**desktop, "HEARTBEAT_DATA_DIR": str(data), "OLLAMA_HOST": server.url, "LOG_LEVEL": "INFO"}
    log_file = data / "logs" / "heartbeat.log"
    app = subprocess.Popen(
        [sys.executable, "-m", "heartbeat_desktop"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: log_file.exists() and "started (data in" in log_file.read_text(), 20, "the app to start")
        _wait(lambda: "Tray ready" in log_file.read_text(), 10, "the tray icon")
        # The icon was shown before the app was built (issue #23: the launch loads what the tray shows first).
        text = log_file.read_text()
        assert text.index("Tray icon shown (starting)") < text.index("Tray ready") < text.index("started (data in")
        _wait(lambda: "Notifications via test-notifyd" in log_file.read_text(), 10, "the notification service")

        title = "Standup: two blockers"
        server.script(
            Reply(
                json.dumps(
                    {
                        "action": "post",
                        "rule": 1,
                        "title": title,
                        "content": "CI is red; the venue is unconfirmed.",
                        "reason": "checklist",
                    }
                )
            )
        )
        cli = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", "run-now", "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        run = json.loads(cli.stdout)
        assert run["status"] == "ok"
        with sqlite3.connect(data / "heartbeat.db") as db:
            assert db.execute("SELECT pid FROM runs WHERE id = ?", (run["run_id"],)).fetchone()[0] == app.pid
        posted = f"Default: {title}"  # the thread it posted for, then the title
        _wait(lambda: any(n["summary"] == posted for n in _notes(desktop["NOTES"])), 10, "the post notification")
        note = next(n for n in _notes(desktop["NOTES"]) if n["summary"] == posted)
        assert note["app"] == "Heartbeat Desktop" and note["urgency"] == 1 and note["body"].startswith("CI is red")
        assert note["icon"].endswith("app.svg") and "Open" in note["actions"]

        server.script(Error(500, "llama runner process has terminated"))
        cli = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", "run-now"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "HTTP 500" in cli.stdout
        # at once (it was held, and came late), with what to do
        _wait(lambda: any(n["urgency"] == 2 for n in _notes(desktop["NOTES"])), 3, "the failure notification")
        failure = next(n for n in _notes(desktop["NOTES"]) if n["urgency"] == 2)
        assert failure["summary"] == "Heartbeat failed in Default" and "HTTP 500" in failure["body"]
        assert "see its log, then Retry" in failure["body"]
        assert failure["icon"].endswith("tray-error.svg") and failure["timeout"] == -1

        t0 = time.monotonic()
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 2.0
        assert "Scheduler stopped" in log_file.read_text()
        assert "fallback window" not in log_file.read_text()
    finally:
        if app.poll() is None:
            app.kill()
        server.stop()
