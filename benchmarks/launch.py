"""Launch to tray visible, and the tray app's memory when idle (from the source tree).

    python benchmarks/launch.py [--idle 5]

Starts Xvfb with a tray (trayer), launches `python -m heartbeat_desktop` with a fresh data dir, times
launch → the "Tray icon shown" log line, waits `--idle` seconds and reads the process's resident memory
(VmRSS), then quits it with `heartbeat-desktop quit`. Linux only; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.xserver import start_display, start_tray  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    if shutil.which("Xvfb") is None or shutil.which("trayer") is None:
        print("needs Xvfb and trayer (packaging/install-system-deps.sh)", file=sys.stderr)
        return 2
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        display = start_display(procs)
        env = {
            **os.environ,
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "HEARTBEAT_DATA_DIR": tmp,
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "LOG_LEVEL": "INFO",
        }
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        start_tray(procs, env)
        log = Path(tmp) / "logs" / "heartbeat.log"
        t0 = time.monotonic()
        app = subprocess.Popen(
            [sys.executable, "-m", "heartbeat_desktop"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(app)
        shown = None
        while time.monotonic() - t0 < 30 and shown is None:
            if log.exists() and "Tray icon shown" in log.read_text():
                shown = time.monotonic() - t0
            time.sleep(0.01)
        time.sleep(args.idle)
        rss = rss_mb(app.pid)
        subprocess.run([sys.executable, "-m", "heartbeat_desktop", "quit"], cwd=REPO, env=env, capture_output=True)
        app.wait(10)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(5)
    if shown is None:
        print("the tray icon never appeared", file=sys.stderr)
        return 1
    print(f"launch_to_tray_ms={shown * 1000:.0f} idle_rss_mb={rss:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
