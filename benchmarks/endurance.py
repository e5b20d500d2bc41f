"""Endurance: the real tray app through weeks of heartbeats, on a simulated clock.

    python benchmarks/endurance.py [--threads 30] [--days 30] [--every 1800] [--rate 480] [--json]

Starts Xvfb with a tray (trayer), a private session bus with the real dunst notification daemon, and a
loopback Ollama-protocol server whose answers mix `none`, posts (some the same post again: refused),
comments and votes on the posts the request offers, HTTP 500s and garbage (failures: backoff). Then it
launches the real app (`python -m heartbeat_desktop`, notifications on) on a prepared data directory with
`HEARTBEAT_SIMULATED_CLOCK` (core/clock.py): `--rate` simulated seconds pass per real one, so 30 days at
480 take 90 minutes. Only the clock is simulated; the scheduler, its timer, the runner, SQLite, the HTTP
client, the tray and the notifications are the app's own.

After each simulated day it samples the process from outside (/proc: resident memory, file descriptors,
threads) and, through `heartbeat-desktop status --json`, None's reference count inside it (a binding that
leaks references lowers it with every Qt call; the process aborts when it reaches zero), the heartbeats
run so far and the database's size. At the end it checks every thread's scheduled runs against the
schedule's own rules (`core.schedule.planned_slot` after each run, with the failures that count toward
backoff): a slot that should have run and did not is *skipped*, a slot run twice is *doubled*. Each skip
says why it happened where it can: a slot passed over by a catch-up run that started more than an interval
after it means the app was a whole interval behind (`skipped_while_behind`); with every thread aligned to
:00 and :30, a burst of N runs must finish within one interval of real time (1800 / rate seconds), so a
rate the machine cannot keep up with shows up there, not as a scheduling fault. How late each scheduled
run started (`lateness_s`, simulated seconds) says how close the run came to that.

Goals (issue #22): alive at the end; 0 skipped and 0 doubled slots; resident memory growth < 2 MB per
1,000 heartbeats after the first 1,000; file descriptors and threads flat. The retention is set to
`--keep-days` (default 7) so the month shows what bounds the database. Prints measured figures; with
`--json` one object on the last line (tests/integration/test_endurance.py runs a short version).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_desktop.core.config import HeartbeatConfig  # noqa: E402
from heartbeat_desktop.core.schedule import counts_toward_backoff, planned_slot  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.citing import cite_from  # noqa: E402
from tests.support.ollama_server import Behaviour, Error, Garbage, OllamaServer, Reply, Respond  # noqa: E402
from tests.support.xserver import start_bus, start_display, start_tray, stop  # noqa: E402

START = 1796083200.0  # 2026-12-01 00:00 UTC: the simulated month starts on a slot for every interval
RSS_GOAL_MB_PER_1000 = 2.0


class Mix:
    """The loopback model's answers: a fixed cycle, so two runs of the benchmark ask the same questions."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, body: dict[str, Any]) -> Behaviour:
        self.count += 1
        i = self.count
        posts = _offered_posts(body.get("format"))
        cite = partial(cite_from, body)  # as a cooperative model under the grammar would (#26)
        if i % 25 == 0:
            return Error(500, "the model server had a bad moment")
        if i % 25 == 12:
            return Garbage()
        if i % 10 == 3:
            return _json(cite({"action": "post", "title": f"Note {i}", "content": f"Something worth saying ({i})."}))
        if i % 10 == 5:  # the same post again: refused by the thread's own rules (no backoff). The reason
            # differs, so the answer is not the same answer again: three of those in a row would pause the thread
            # (its breaker, pause_after_same_answer), and a paused thread tells a month nothing.
            summary = {"action": "post", "title": "Daily summary", "content": "The same summary as before."}
            return _json(cite({**summary, "reason": f"repeat {i}"}))
        if i % 10 == 6 and posts:
            return _json(cite({"action": "comment", "post_id": posts[i % len(posts)], "content": f"A comment ({i})."}))
        if i % 10 == 8 and posts:
            return _json(cite({"action": "vote", "post_id": posts[i % len(posts)], "direction": "up"}))
        return _json({"action": "none"})


def _json(decision: dict[str, Any]) -> Reply:
    return Reply(json.dumps({"reason": "endurance", **decision}), chunk_chars=400)


def _offered_posts(schema: Any) -> list[int]:
    """The post ids the request's schema allows (`post_id`'s enum), wherever it sits in the schema."""
    found: list[int] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "post_id" and isinstance(value, dict) and isinstance(value.get("enum"), list):
                found.extend(v for v in value["enum"] if isinstance(v, int))
            else:
                found.extend(_offered_posts(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(_offered_posts(item))
    return sorted(set(found))


def prepare(data: Path, threads: int, every: int, keep_days: int) -> HeartbeatConfig:
    (data / "HEARTBEAT.md").write_text((REPO / "HEARTBEAT.md").read_text(encoding="utf-8"), encoding="utf-8")
    config = HeartbeatConfig(every_seconds=every, timezone="UTC", always_ask=True, busy_minutes=0)
    store = SqliteStore(data / "heartbeat.db")
    store.threads.set_config("default", config)
    for i in range(1, threads):
        store.threads.create(f"t{i:02d}", f"Thread {i}")
        store.threads.set_config(f"t{i:02d}", config)
    for thread in store.threads.list():  # something to look at: an empty thread's heartbeat asks nothing
        store.threads.add_message(thread.id, "What is on today?")
    store.settings.set("keep_run_details_days", str(keep_days))
    store.close()
    return config


@dataclass
class Sample:
    day: float
    heartbeats: int
    rss_mb: float
    fds: int
    threads: int
    none_refcount: int | None
    true_refcount: int | None
    db_mb: float


@dataclass
class Verdict:
    due: int = 0
    run: int = 0
    skipped: int = 0
    doubled: int = 0
    paused: list[str] = field(default_factory=list)  # threads the app paused by its own rule
    examples: list[str] = field(default_factory=list)
    # of the skipped: passed over by a run that started more than an interval after the first slot it
    # passed over — the app was that far behind (one model call at a time), the rest have no such excuse
    behind: int = 0
    lateness_s: list[float] = field(default_factory=list)  # simulated seconds each scheduled run started late


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def proc_figures(pid: int) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def settled_figures(pid: int, window_s: float = 3.0) -> tuple[float, int, int]:
    """RSS now, and the fewest descriptors and threads seen over `window_s`: a run in flight holds a thread, a
    database connection (three files) and a socket for a moment, which is not growth. Slots come in bursts, so
    a few seconds of readings always include a moment with nothing in flight (or the fewest in flight)."""
    readings = []
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        readings.append(proc_figures(pid))
        time.sleep(0.02)
    return readings[-1][0], min(r[1] for r in readings), min(r[2] for r in readings)


def status(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "status", "--json"], env=env, capture_output=True, text=True
    )
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {}


def db_size_mb(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("heartbeat.db*")) / 1e6


def count_runs(data: Path) -> int:
    with sqlite3.connect(f"file:{data / 'heartbeat.db'}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs WHERE status != 'started'").fetchone()[0])


def check_slots(data: Path, config: HeartbeatConfig, end: float) -> Verdict:
    """Each thread's scheduled runs against the schedule's rules: the slot after each run is the one
    `planned_slot` gives for it and the failures counted so far; anything else skipped or doubled."""
    verdict = Verdict()
    with sqlite3.connect(f"file:{data / 'heartbeat.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT thread_id, slot_at, status, trigger, dry_run, error_kind, started_at FROM runs "
            "WHERE trigger IN ('schedule', 'catch-up') AND slot_at IS NOT NULL ORDER BY thread_id, slot_at"
        ).fetchall()
        # The app pauses a thread whose model gave the same refused answer several times in a row (and says
        # so): the Mix's repeated "Daily summary" can do that to a thread; its slots stop on purpose.
        paused = {r[0] for r in db.execute("SELECT id FROM threads WHERE paused = 1")}
    verdict.paused = sorted(paused)
    by_thread: dict[str, list[tuple[float, str, str, int, str | None, float]]] = {}
    for thread, slot, st, trigger, dry, kind, started in rows:
        by_thread.setdefault(thread, []).append((slot, st, trigger, dry, kind, started))
    for thread, runs in by_thread.items():
        failures = 0
        expected: float | None = None
        previous: float | None = None
        for slot, st, trigger, dry, kind, started in runs:
            verdict.run += 1
            verdict.lateness_s.append(started - slot)
            if expected is not None:
                if slot == previous:
                    verdict.doubled += 1
                    verdict.examples.append(f"{thread}: slot {slot:.0f} ran twice")
                    continue
                missed = 0
                first_missed = expected
                while expected is not None and expected < slot - 1:
                    missed += 1
                    expected = planned_slot(config, last_slot_at=expected)
                if missed:
                    verdict.skipped += missed
                    late_by = started - first_missed
                    if trigger == "catch-up" and late_by > config.every_seconds:
                        verdict.behind += missed
                    verdict.examples.append(
                        f"{thread}: {missed} slot(s) before {slot:.0f} not run; the run that passed over them "
                        f"({trigger}) started {late_by:.0f} s after the first"
                    )
            verdict.due += 1
            previous = slot
            if counts_toward_backoff(trigger=trigger, dry_run=bool(dry), status=st, error_kind=kind):
                failures += 1
            elif st == "ok":
                failures = 0
            expected = planned_slot(config, last_slot_at=slot, consecutive_failures=failures)
        # the slot after the last run must not have passed long before the end (the thread stopped running)
        if thread not in paused and expected is not None and expected < end - 3 * config.every_seconds:
            late = int((end - expected) // config.every_seconds)
            verdict.skipped += late
            verdict.due += late
            verdict.examples.append(f"{thread}: stopped running {late} slot(s) before the end")
    return verdict


def slope_per_1000(samples: list[Sample], after: int = 1000) -> float:
    """Least-squares slope of resident memory per 1,000 heartbeats, over the samples past `after`."""
    points = [(s.heartbeats, s.rss_mb) for s in samples if s.heartbeats >= after]
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / var * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    server = OllamaServer(models=("llama3.2:latest",))
    server.default = Respond(Mix())
    server.start()
    tmp = tempfile.mkdtemp(prefix="endurance-", dir=args.keep_data)
    data = Path(tmp)
    config = prepare(data, args.threads, args.every, args.keep_days)
    samples: list[Sample] = []
    alive = False
    exit_code: int | None = None
    log_path = Path(tempfile.mkdtemp(prefix="endurance-log-")) / "stderr.txt"
    log_file = log_path.open("wb")
    try:
        display = start_display(procs)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "LOG_LEVEL": "WARNING"}
        env["DBUS_SESSION_BUS_ADDRESS"] = start_bus(procs, env)
        procs.append(subprocess.Popen(["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        start_tray(procs, env)
        env |= {
            "HEARTBEAT_DATA_DIR": tmp,
            "OLLAMA_HOST": server.url,
            "HEARTBEAT_SIMULATED_CLOCK": f"{START - 1}x{args.rate}",
        }
        app = subprocess.Popen(
            [sys.executable, "-m", "heartbeat_desktop"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            # a file, not a pipe: nobody reads a pipe until the end, and once its 64 KiB fill with the
            # app's warnings every thread that logs blocks (the first month run stopped on day 3 that way)
            stderr=log_file,
        )
        day_real = 86400 / args.rate
        up_by = time.monotonic() + 60
        while not status(env).get("app_running") and app.poll() is None and time.monotonic() < up_by:
            time.sleep(0.2)
        t0 = time.monotonic()
        for day in range(args.days + 1):
            wait = t0 + day * day_real - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if app.poll() is not None:
                break
            rss, fds, threads = settled_figures(app.pid)
            seen = status(env)
            samples.append(
                Sample(
                    day,
                    count_runs(data),
                    rss,
                    fds,
                    threads,
                    seen.get("app_none_refcount"),
                    seen.get("app_true_refcount"),
                    db_size_mb(data),
                )
            )
            server.requests.clear()  # the benchmark's own memory, not the app's
            if not args.json:
                s = samples[-1]
                print(
                    f"day {day:>2}: heartbeats={s.heartbeats:>6} rss={s.rss_mb:6.1f} MB fds={s.fds:>3} "
                    f"threads={s.threads:>2} none_refcount={s.none_refcount} true_refcount={s.true_refcount} "
                    f"db={s.db_mb:6.2f} MB",
                    flush=True,
                )
        alive = app.poll() is None
        if alive:
            subprocess.run([sys.executable, "-m", "heartbeat_desktop", "quit"], env=env, capture_output=True)
            try:
                app.wait(15)
            except subprocess.TimeoutExpired:
                app.kill()
        exit_code = app.wait(5)
        log_file.flush()
        stderr = log_path.read_text(errors="replace")
    finally:
        stop(procs)  # kills a daemon slow to stop: a week of results must not be lost to it
        server.stop()
        log_file.close()
    end = START + args.days * 86400
    verdict = check_slots(data, config, end)
    shutil.rmtree(log_path.parent, ignore_errors=True)
    if args.keep_data is None:
        shutil.rmtree(tmp, ignore_errors=True)
    # Growth is measured once the app is warm: descriptors and threads opened on first use (the health probe's
    # connection, the notification watcher, SQLite's journal) are not a leak. A month is warm after 1,000
    # heartbeats; a short run (the suite's two days) after its first quarter, when every kind of work has run.
    total = samples[-1].heartbeats if samples else 0
    warm = [s for s in samples if s.heartbeats >= min(1000, total // 4)]
    warm = warm if len(warm) > 1 else samples
    refs = [s.none_refcount for s in samples if s.none_refcount is not None]
    trues = [s.true_refcount for s in samples if s.true_refcount is not None]
    heartbeats = samples[-1].heartbeats if samples else 0
    result = {
        "threads": args.threads,
        "days": args.days,
        "every_s": args.every,
        "rate": args.rate,
        "alive": alive,
        "exit_code": exit_code,
        "heartbeats": heartbeats,
        "slots_due": verdict.due,
        "slots_run": verdict.run,
        "skipped": verdict.skipped,
        "doubled": verdict.doubled,
        "skipped_while_behind": verdict.behind,
        "lateness_s": {
            "p50": percentile(verdict.lateness_s, 0.5),
            "p95": percentile(verdict.lateness_s, 0.95),
            "max": max(verdict.lateness_s, default=None),
            "over_an_interval": sum(1 for x in verdict.lateness_s if x > args.every),
        },
        "slot_examples": verdict.examples[:10],
        "paused_by_the_app": verdict.paused,
        "rss_mb": [round(s.rss_mb, 1) for s in samples],
        "fds": [s.fds for s in samples],
        "threads_os": [s.threads for s in samples],
        "none_refcount": refs,
        "db_mb": [round(s.db_mb, 2) for s in samples],
        "heartbeats_per_day": [s.heartbeats for s in samples],
        "rss_slope_mb_per_1000": round(slope_per_1000(samples), 3),
        "db_mb_per_1000": round((samples[-1].db_mb - samples[0].db_mb) / max(1, heartbeats) * 1000, 3)
        if samples
        else None,
        "fd_growth": (warm[-1].fds - warm[0].fds) if warm else None,
        "thread_growth": (warm[-1].threads - warm[0].threads) if warm else None,
        "none_refcount_change": (refs[-1] - refs[0]) if len(refs) > 1 else None,
        "true_refcount_change": (trues[-1] - trues[0]) if len(trues) > 1 else None,
        "stderr_tail": stderr[-2000:],
    }
    slope = result["rss_slope_mb_per_1000"]
    result["ok"] = bool(
        alive
        and verdict.skipped == 0
        and verdict.doubled == 0
        and heartbeats > 0
        and (slope != slope or slope < RSS_GOAL_MB_PER_1000)  # nan: too short to have a slope
        and (result["fd_growth"] or 0) <= 2
        and (result["thread_growth"] or 0) <= 2
        and all(result[k] is None or result[k] > -1000 for k in ("none_refcount_change", "true_refcount_change"))
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--every", type=int, default=1800, help="each thread's interval, simulated seconds")
    # 480: every thread's :00/:30 burst (30 runs, ~2.5 s of real work on this 2-core machine) fits in an
    # interval of real time (3.75 s) with room to spare; at 720 (2.5 s) the app is a whole interval behind
    # at every burst and the slots it passes over are the benchmark's, not the schedule's.
    parser.add_argument("--rate", type=float, default=480.0, help="simulated seconds per real second")
    parser.add_argument("--keep-days", type=int, default=7, help="keep_run_details_days for the run")
    parser.add_argument("--keep-data", metavar="DIR", help="make the data directory in DIR and keep it (diagnosis)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for tool in ("Xvfb", "trayer", "dbus-daemon", "dunst"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (packaging/install-system-deps.sh)", file=sys.stderr)
            return 2
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"endurance_alive={int(result['alive'])} heartbeats={result['heartbeats']} slots_due={result['slots_due']} "
            f"slots_run={result['slots_run']} skipped={result['skipped']} doubled={result['doubled']} "
            f"rss_slope_mb_per_1000={result['rss_slope_mb_per_1000']} db_mb_per_1000={result['db_mb_per_1000']} "
            f"fd_growth={result['fd_growth']} thread_growth={result['thread_growth']} "
            f"none_refcount_change={result['none_refcount_change']} "
            f"true_refcount_change={result['true_refcount_change']} threads={args.threads} days={args.days} "
            f"(goal: alive, 0 skipped, 0 doubled, < {RSS_GOAL_MB_PER_1000} MB per 1,000, fds and threads flat) "
            f"{'ok' if result['ok'] else 'MISS'}"
        )
        late = result["lateness_s"]
        print(
            f"  skipped_while_behind={result['skipped_while_behind']} (passed over by a run that started more "
            f"than an interval late) lateness_s p50={late['p50']} p95={late['p95']} max={late['max']} "
            f"runs_over_an_interval_late={late['over_an_interval']}"
        )
        for example in result["slot_examples"]:
            print(f"  {example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
