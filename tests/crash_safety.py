"""Shared by the crash-safety test (a few dozen rounds in CI) and benchmarks/crash_safety.py (1000)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD, REPO
from tests.support.ollama_server import OllamaServer, Reply


@dataclass
class CrashReport:
    rounds: int = 0
    committed_seen: int = 0
    runs: int = 0
    posts: int = 0
    interrupted: int = 0
    problems: list[str] = field(default_factory=list)


def crash_rounds(data_dir: Path, rounds: int, seed: int) -> CrashReport:
    rng = random.Random(seed)
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    server = OllamaServer().start()
    post = json.dumps({"action": "post", "rule": 1, "title": "Crash test", "content": "c", "reason": "r"})
    server.default = Reply(post, delay_s=0.03)  # think time, so kills land inside runs as well as between
    report = CrashReport()
    committed: set[str] = set()
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    try:
        for number in range(rounds):
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.support.crash_child", str(data_dir), server.url, f"round-{number}"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.5))
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate()
            for line in out.splitlines():
                if line.startswith("committed "):
                    committed.add(line.split()[1])
            report.rounds += 1
            check(data_dir, committed, report)
    finally:
        server.stop()
    report.committed_seen = len(committed)
    return report


def check(data_dir: Path, committed: set[str], report: CrashReport) -> None:
    store = SqliteStore(data_dir / "heartbeat.db")  # opening recovers runs of the dead process
    try:
        c = store.db.conn
        if store.integrity_check() != "ok":
            report.problems.append("integrity_check failed")
        started = c.execute("SELECT COUNT(*) FROM runs WHERE status = 'started'").fetchone()[0]
        if started:
            report.problems.append(f"{started} run(s) left started")
        ids = {r[0]: r[1] for r in c.execute("SELECT id, status FROM runs")}
        lost = [r for r in committed if r not in ids or ids[r] in ("started", "interrupted")]
        if lost:
            report.problems.append(f"committed runs lost or reopened: {lost[:3]}")
        twice = c.execute("SELECT run_id FROM posts GROUP BY run_id HAVING COUNT(*) > 1").fetchall()
        if twice:
            report.problems.append(f"runs that acted twice: {twice[:3]}")
        orphans = c.execute(
            "SELECT COUNT(*) FROM posts p LEFT JOIN runs r ON r.id = p.run_id WHERE r.status IS NOT 'ok'"
        ).fetchone()[0]
        if orphans:
            report.problems.append(f"{orphans} post(s) whose run is not ok")
        ok_posts = c.execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'ok' AND dry_run = 0 "
            "AND json_extract(decision, '$.action') = 'post'"
        ).fetchone()[0]
        report.posts = c.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
        if ok_posts != report.posts:
            report.problems.append(f"{ok_posts} ok post runs but {report.posts} posts")
        report.runs = len(ids)
        report.interrupted = sum(1 for s in ids.values() if s == "interrupted")
    finally:
        store.close()
