"""Idle cost of the scheduler against a web-heartbeat-style poller, side by side, each in its own child process.

    python benchmarks/idle_cpu.py --threads 100 --seconds 60

Both children get the same store: `--threads` enabled threads at 30-minute intervals that all ran just now,
so nothing is due during the window. The scheduler child runs the real `HeartbeatScheduler` (worker on its
QThread, one wall-clock wake timer) under a QCoreApplication; the poller child does what the web heartbeat did:
wake every 10 s and read every thread's config from the DB. Linux only: CPU time is read from each task's
/proc/PID/task/TID/schedstat (nanoseconds), wake-ups are the voluntary context switches of all its threads
(/proc/PID/task/TID/status), both taken after start-up settles and again at the end of the window.
The last line is machine-readable. Nothing is asserted: the numbers are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_store(path: Path, threads: int) -> None:
    from heartbeat_desktop.core.config import HeartbeatConfig
    from heartbeat_desktop.store import SqliteStore

    store = SqliteStore(path)
    now = time.time()
    config = HeartbeatConfig(every_seconds=1800, always_ask=True).to_json()

    def work(c: sqlite3.Connection) -> None:
        c.execute("UPDATE threads SET config = ?", (config,))
        for i in range(threads - 1):
            c.execute(
                "INSERT INTO threads (id, title, config, created_at) VALUES (?, ?, ?, ?)",
                (f"t{i}", f"T{i}", config, now),
            )
        c.execute(
            "INSERT INTO thread_state (thread_id, last_run_at, last_slot_at, last_status, consecutive_failures) "
            "SELECT id, ?, ?, 'ok', 0 FROM threads",
            (now, now),
        )

    store.db.transaction(work)
    store.close()


def child_scheduler(db: Path) -> int:
    from PySide6.QtCore import QCoreApplication

    from heartbeat_desktop.qt.services.scheduler import HeartbeatScheduler

    app = QCoreApplication([])

    def make_runner(store):  # never called during the window: nothing is due
        raise RuntimeError("a heartbeat fired during the idle window")

    scheduler = HeartbeatScheduler(db, make_runner, start_paused=False)
    reported = []

    def on_state(state) -> None:
        if state.started and not reported:
            due = state.next_due
            reported.append(due)
            print(
                json.dumps({"ready": True, "threads": len(state.threads), "next_due_in_s": due - time.time()}),
                flush=True,
            )

    scheduler.state_changed.connect(on_state)
    scheduler.start()
    return app.exec()


def child_poller(db: Path) -> int:
    """What the web heartbeat did: every 10 s, read each thread's config from the DB and check whether it is due."""
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM threads")]
    print(json.dumps({"ready": True, "threads": len(ids)}), flush=True)
    while True:
        time.sleep(10)
        now = time.time()
        for thread_id in ids:
            (raw,) = conn.execute("SELECT config FROM threads WHERE id = ?", (thread_id,)).fetchone()
            config = json.loads(raw)
            (last,) = conn.execute("SELECT last_run_at FROM thread_state WHERE thread_id = ?", (thread_id,)).fetchone()
            if config.get("enabled") and now - (last or 0) >= config.get("every_seconds", 1800):
                print("due", thread_id, flush=True)


def sample(pid: int) -> tuple[float, int]:
    """(CPU seconds, voluntary context switches) summed over all threads of `pid`."""
    cpu_ns = 0
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu_ns += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return cpu_ns / 1e9, switches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--child", choices=("scheduler", "poller"))
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.child == "scheduler":
        return child_scheduler(args.db)
    if args.child == "poller":
        return child_poller(args.db)
    if not Path("/proc/self/task").exists():
        print("this benchmark reads /proc and runs on Linux only", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "heartbeat.db"
        build_store(db, args.threads)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEARTBEAT_DATA_DIR": tmp, "LOG_LEVEL": "WARNING",
               "HEARTBEAT_FIRST_RUN": "off"}  # fmt: skip
        env.pop("HEARTBEAT_ENABLED", None)
        children = {}
        for kind in ("scheduler", "poller"):
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", kind, "--db", str(db)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO,
            )
            ready = json.loads(proc.stdout.readline())
            children[kind] = (proc, ready)
        time.sleep(2.0)  # let start-up (imports, first plan) settle before the window opens
        start = {k: sample(p.pid) for k, (p, _) in children.items()}
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        end = {k: sample(p.pid) for k, (p, _) in children.items()}
        for proc, _ in children.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    result = {}
    for kind in children:
        cpu = end[kind][0] - start[kind][0]
        result[kind] = (100 * cpu / elapsed, end[kind][1] - start[kind][1], cpu)
    sched_pct, sched_wake, sched_cpu = result["scheduler"]
    poll_pct, poll_wake, poll_cpu = result["poller"]
    ratio = poll_pct / sched_pct if sched_pct > 0 else float("inf")
    print(
        f"threads={args.threads} window_s={elapsed:.1f} scheduler_next_due_in_s="
        f"{children['scheduler'][1]['next_due_in_s']:.0f}"
    )
    print(f"scheduler: cpu={sched_cpu * 1000:.3f} ms over the window; poller: cpu={poll_cpu * 1000:.3f} ms")
    print(
        f"scheduler_cpu_percent={sched_pct:.5f} poller_cpu_percent={poll_pct:.5f} ratio={ratio:.1f} "
        f"scheduler_wakeups={sched_wake} poller_wakeups={poll_wake}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
