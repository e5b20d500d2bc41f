"""Wake-ups of the whole running tray app between heartbeats: with the model server up, and down.

    python benchmarks/app_idle.py [--seconds 300] [--settle 90]

For each case (`up`: the loopback Ollama-protocol server answers; `down`: nothing listens) it starts Xvfb with
a tray, prepares a data dir whose one thread is due once inside the window (every hour, last run an hour ago
minus a minute: the run comes 60 s into the window), launches `python -m heartbeat_desktop`, waits `--settle`
seconds after the tray shows (a bare PySide6 tray itself wakes twice in its first 40 s, Qt's font-cache
timers, then sleeps for good), and samples every thread of the process twice a second for `--seconds`: its
voluntary context switches (/proc/PID/task/TID/status). A wake-up is a half-second in which the process ran at
all (one timer firing and a worker thread answering it is one wake-up, several context switches); both counts
are printed. The run is set apart: from its start (in the database) to 120 s after its end — the tray's icon,
tooltip and menu change when a run ends, and any such change makes Qt's pixmap and font caches wake the
process every 10 s for a while (measured here: up to 90 s after a run; a bare PySide6 tray does the same after
one `setToolTip`, checked with strace; not the app polling). Every other wake-up is one between due times. A
window that does not contain exactly one run is reported — a scheduler that never fires cannot score well.
Goals (issue #17): 0 wake-ups between due times with the server up, at most one a minute with it down. Linux
only; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.launch import cli, rss_mb, start_app  # noqa: E402
from heartbeat_desktop.core.config import HeartbeatConfig  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.ollama_server import OllamaServer  # noqa: E402
from tests.support.xserver import start_display, start_tray, stop  # noqa: E402

RUN_TAIL_S = 120.0  # after a run ends: Qt's caches settle after the tray's update (see the docstring)


def sample(pid: int) -> dict[str, int]:
    """Voluntary context switches per thread name (threads come and go: summed by name)."""
    counts: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    counts[name] = counts.get(name, 0) + int(line.split()[1])
        except OSError:
            continue  # the thread ended between listing and reading
    return counts


def prepare(data: Path, due_in_s: float) -> None:
    store = SqliteStore(data / "heartbeat.db")
    (data / "HEARTBEAT.md").write_text((REPO / "HEARTBEAT.md").read_text(encoding="utf-8"), encoding="utf-8")
    config = HeartbeatConfig(every_seconds=3600, align_to_clock=False, always_ask=True, busy_minutes=0)
    store.threads.set_config("default", config)
    last = time.time() - 3600 + due_in_s
    store.db.transaction(
        lambda c: c.execute(
            "INSERT INTO thread_state (thread_id, last_run_at, last_slot_at, last_status, consecutive_failures) "
            "VALUES ('default', ?, ?, 'ok', 0)",
            (last, last),
        )
    )
    store.close()


def runs_between(data: Path, start: float, end: float) -> list[tuple[float, float]]:
    with sqlite3.connect(data / "heartbeat.db") as db:
        rows = db.execute(
            "SELECT started_at, COALESCE(finished_at, started_at) FROM runs WHERE started_at BETWEEN ? AND ?",
            (start, end),
        ).fetchall()
    return [(float(a), float(b)) for a, b in rows]


def measure(case: str, seconds: float, settle: float, env: dict[str, str]) -> dict[str, float]:
    server = OllamaServer().start() if case == "up" else None
    host = server.url if server else "http://127.0.0.1:9"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        prepare(data, due_in_s=settle + 3 + 60)
        app_env = {**env, "HEARTBEAT_DATA_DIR": tmp, "OLLAMA_HOST": host, "HEARTBEAT_FIRST_RUN": "off"}
        app, _shown = start_app(app_env)
        try:
            time.sleep(settle)
            wall_start = time.time()
            samples: list[tuple[float, dict[str, int]]] = [(wall_start, sample(app.pid))]
            while time.time() - wall_start < seconds:
                time.sleep(0.5)
                samples.append((time.time(), sample(app.pid)))
            wall_end = time.time()
            rss = rss_mb(app.pid)
            cli(app_env, "quit")
            app.wait(10)
        finally:
            if app.poll() is None:
                app.kill()
            if server is not None:
                server.stop()
        runs = runs_between(data, wall_start, wall_end)
    between = 0  # context switches
    wakes = 0  # half-seconds with any
    at: list[str] = []  # when, from the window's start (and from the run's end)
    during = 0
    by_thread: dict[str, int] = {}
    for (t_prev, before), (t_now, after) in itertools.pairwise(samples):
        delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        woke = sum(max(0, d) for d in delta.values())
        in_run = any(start - 1 <= t_now and t_prev <= end + RUN_TAIL_S for start, end in runs)
        if in_run:
            during += woke
        else:
            between += woke
            wakes += woke > 0
            if woke:
                since_run = [f", run end {t_now - end:+.0f} s" for _start, end in runs]
                at.append(f"{t_now - samples[0][0]:.1f} s{''.join(since_run)}")
            for name, d in delta.items():
                if d > 0:
                    by_thread[name] = by_thread.get(name, 0) + d
    minutes = seconds / 60
    print(
        f"{case}: runs in the window={len(runs)}; context switches during the run={during}, between due times="
        f"{between}; wake-ups between due times={wakes} ({wakes / minutes:.2f}/min); by thread: {by_thread or 'none'}"
    )
    if at:
        print(f"{case}: wake-ups at " + "; ".join(at))
    print(f"{case}: resident memory at the end of the window (after its heartbeat): {rss:.1f} MB")
    return {"runs": len(runs), "between": wakes, "per_min": wakes / minutes, "rss": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument(
        "--settle", type=float, default=90.0, help="after the tray shows, before measuring (Qt's start-up timers)"
    )
    args = parser.parse_args()
    if shutil.which("Xvfb") is None or shutil.which("trayer") is None:
        print("needs Xvfb and trayer (packaging/install-system-deps.sh)", file=sys.stderr)
        return 2
    procs: list[subprocess.Popen[bytes]] = []
    try:
        display = start_display(procs)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "LOG_LEVEL": "INFO"}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        start_tray(procs, env)
        up = measure("up", args.seconds, args.settle, env)
        down = measure("down", args.seconds, args.settle, env)
    finally:
        stop(procs)
    ok = up["runs"] == 1 and down["runs"] == 1 and up["between"] == 0 and down["per_min"] <= 1
    print(
        f"app_runs_up={up['runs']} app_wakeups_up={up['between']} app_runs_down={down['runs']} "
        f"app_wakeups_down_per_min={down['per_min']:.2f} app_rss_after_run_mb={up['rss']:.1f} seconds={args.seconds:g} "
        f"(goal: one run each, 0 wake-ups up, <= 1/min down) {'ok' if ok else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
