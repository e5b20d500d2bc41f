"""Run every benchmark, judge each figure against its issue's goal, print one table; the full run also
writes benchmarks/results.md (machine and date included).

    python benchmarks/run_all.py [--quick] [--no-bundle]

Each benchmark is its own script run as a child process; this one collects the `key=value` figures they
print and sets them against the goals. `--quick` shrinks the stores and windows (a smoke run) and writes
nothing: the committed results.md comes from a full run only. The exit code is 1 when any figure misses
its goal, any benchmark failed, or any timed heartbeat was refused or failed (a benchmark that times
refusals measures the wrong thing).

The goals (issues #11, #12, #16, #17): idle CPU of the scheduler at most a tenth of the web-heartbeat-style poller
measured beside it; 0 scheduler wake-ups between due times; the whole app 0 wake-ups between due times
with the model server up and at most one a minute with it down, each window with exactly one run;
non-LLM time per run p50 < 5 ms, p99 < 25 ms; launch to tray ≤ 400 ms; idle RSS ≤ 90 MB fresh and after a
tour of every window; History opens < 200 ms on a million runs; the GUI thread never stalls > 16 ms (the
worst of 3 repeats, every run complete); ≥ 95 % valid decisions on real engines; decision quality
measured in both modes with every question answered; the download ≤ 55 MB and the unpacked bundle
≤ 130 MB (`--no-bundle` skips building it).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAIR = re.compile(r"\b([a-z][a-z0-9_]*)=([-+0-9.]+|inf)")
DQ_BEGIN, DQ_END = "<!-- decision-quality -->", "<!-- /decision-quality -->"

Row = tuple[str, str, str, bool]


class Failed(RuntimeError):
    """A benchmark script exited with an error."""


def run(script: str, *args: str, timeout: int = 3600, cwd: Path = ROOT) -> dict[str, float]:
    path = script if script.startswith("/") else str(HERE / script)
    result = subprocess.run([sys.executable, path, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if result.returncode != 0:
        raise Failed(f"{Path(script).name} failed (exit {result.returncode}): {result.stderr[-600:]}")
    figures: dict[str, float] = {}
    for line in result.stdout.splitlines():
        for key, value in PAIR.findall(line):
            figures[key] = float(value)
    return figures


def bundle_rows() -> list[Row]:
    """Build the PyInstaller bundle and judge its sizes (the tarball is what a user downloads)."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        return [("bundle (not built: pip install -e '.[package]')", "—", "≤ 55 / 130 MB", False)]
    build = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py")], capture_output=True, text=True, cwd=ROOT, timeout=1800
    )
    if build.returncode != 0:
        raise Failed(f"packaging/build.py failed: {build.stderr[-600:]}")
    bundle = ROOT / "dist" / "heartbeat-desktop"
    onedir = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    downloads = sorted((ROOT / "dist").glob("heartbeat-desktop-*-linux-*.tar.*"), key=lambda p: p.stat().st_mtime)
    download = downloads[-1].stat().st_size / 1e6 if downloads else float("inf")
    return [
        ("download (the release tarball)", f"{download:.1f} MB", "≤ 55 MB", download <= 55),
        ("unpacked bundle (onedir)", f"{onedir:.1f} MB", "≤ 130 MB", onedir <= 130),
    ]


def measure(quick: bool, with_bundle: bool) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    problems: list[str] = []
    runs = "100000" if quick else "1000000"

    idle = run("idle_cpu.py", "--threads", "100", "--seconds", "15" if quick else "60")
    ceiling = idle["poller_cpu_percent"] / 10
    rows += [
        (
            "idle CPU, scheduler (100 threads)",
            f"{idle['scheduler_cpu_percent']:.4f} %",
            f"≤ {ceiling:.4f} % (a tenth of the poller)",
            idle["scheduler_cpu_percent"] <= ceiling,
        ),
        ("idle CPU, web-heartbeat-style 10 s poller", f"{idle['poller_cpu_percent']:.4f} %", "(reference)", True),
        (
            "wake-ups between due times, scheduler",
            f"{idle['scheduler_wakeups']:.0f}",
            "0",
            idle["scheduler_wakeups"] == 0,
        ),
        ("wake-ups between due times, poller", f"{idle['poller_wakeups']:.0f}", "(reference)", True),
    ]

    app = run("app_idle.py", "--seconds", "240" if quick else "300")
    rows += [
        (
            "whole app, wake-ups between due times, server up",
            f"{app['app_wakeups_up']:.0f} ({app['app_runs_up']:.0f} run)",
            "0, one run",
            app["app_wakeups_up"] == 0 and app["app_runs_up"] == 1,
        ),
        (
            "whole app, wake-ups between due times, server down",
            f"{app['app_wakeups_down_per_min']:.2f}/min ({app['app_runs_down']:.0f} run)",
            "≤ 1/min, one run",
            app["app_wakeups_down_per_min"] <= 1 and app["app_runs_down"] == 1,
        ),
    ]

    overhead = run(
        "run_overhead.py", "--runs", runs, "--messages", "10000" if quick else "100000", "--iterations",
        "200" if quick else "500",
    )  # fmt: skip
    label = f"store of {overhead['store_runs']:.0f} runs, {overhead['timed_runs']:.0f} timed"
    rows += [
        (f"non-LLM time per run, p50 ({label})", f"{overhead['non_llm_ms_p50']:.2f} ms", "< 5 ms",
         overhead["non_llm_ms_p50"] < 5),
        (f"non-LLM time per run, p99 ({label})", f"{overhead['non_llm_ms_p99']:.2f} ms", "< 25 ms",
         overhead["non_llm_ms_p99"] < 25),
    ]  # fmt: skip
    bad = overhead["refused_runs"] + overhead["failed_runs"]
    if bad:
        problems.append(f"run_overhead: {bad:.0f} runs refused or failed")

    launch = run("launch.py", "--idle", "3" if quick else "5", "--repeats", "3" if quick else "5")
    rows += [
        ("launch to tray visible (median)", f"{launch['launch_to_tray_ms']:.0f} ms", "≤ 400 ms",
         launch["launch_to_tray_ms"] <= 400),
        ("idle RSS of the tray app, fresh", f"{launch['idle_rss_mb']:.1f} MB", "≤ 90 MB", launch["idle_rss_mb"] <= 90),
        ("idle RSS after opening and closing every window", f"{launch['idle_rss_after_tour_mb']:.1f} MB", "≤ 90 MB",
         launch["idle_rss_after_tour_mb"] <= 90),
        ("bare PySide6 tray, launch to tray (the floor)", f"{launch['bare_tray_ms']:.0f} ms "
         f"(the app: {launch['ratio']:.2f}×)", "(the floor)", True),
        ("bare PySide6 tray: fresh / after one window", f"{launch['floor_rss_mb']:.1f} / "
         f"{launch['floor_rss_after_window_mb']:.1f} MB", "(the floor)", True),
    ]  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        history = run("history_open.py", "--runs", runs, "--db", str(Path(tmp) / "h.db"))
    rows += [
        (f"history window open ({runs} runs)", f"{history['history_open_ms']:.1f} ms", "< 200 ms",
         history["history_open_ms"] < 200),
        ("history scroll to end, worst step", f"{history['scroll_to_end_ms_max']:.1f} ms", "< 200 ms",
         history["scroll_to_end_ms_max"] < 200),
    ]  # fmt: skip

    stall = run("gui_stall.py", "--runs", "10", "--delay", "3", "--repeats", "3")
    complete = stall["runs_ok"] == stall["runs_expected"]
    rows.append(
        (
            f"GUI thread max stall, worst of {stall['repeats']:.0f} × 10 runs on a slow server",
            f"{stall['gui_max_stall_ms']:.1f} ms ({stall['runs_ok']:.0f}/{stall['runs_expected']:.0f} runs ok)",
            "≤ 16 ms, all runs ok",
            stall["gui_max_stall_ms"] <= 16 and complete,
        )
    )
    if not complete:
        problems.append(f"gui_stall: {stall['runs_expected'] - stall['runs_ok']:.0f} runs did not complete ok")

    real = run("real_model.py", "--runs", "20")
    valid = min(real["ollama_valid_pct"], real["openai_valid_pct"])
    errors = real["ollama_server_errors"] + real["openai_server_errors"]
    rows.append(
        (
            "valid decisions, SmolLM2-135M, Ollama / OpenAI protocol (20 runs each)",
            f"{real['ollama_valid_pct']:.0f} / {real['openai_valid_pct']:.0f} %, {errors:.0f} errors",
            "≥ 95 %, 0 errors",
            valid >= 95 and errors == 0,
        )
    )

    # a simulated month (#22): 30 threads × 30 days at 30 min on a clock 720 times fast (an hour; --quick: a day)
    days = "1" if quick else "30"
    month = run("endurance.py", "--threads", "30", "--days", days, "--rate", "480", timeout=7200)
    figures = ("rss_slope_mb_per_1000", "none_refcount_change", "true_refcount_change", "fd_growth", "thread_growth")
    for key in (*figures, "db_mb_per_1000"):
        month.setdefault(key, float("nan"))  # printed as nan/None when a run was too short to have one
    slope = month["rss_slope_mb_per_1000"]
    rows += [
        (
            f"endurance: {month['heartbeats']:.0f} heartbeats ({days} days × 30 threads), alive, slots skipped/doubled",
            f"{'alive' if month['endurance_alive'] else 'DEAD'}, {month['skipped']:.0f}/{month['doubled']:.0f} "
            f"of {month['slots_due']:.0f} due",
            "alive, 0/0",
            bool(month["endurance_alive"]) and month["skipped"] == 0 and month["doubled"] == 0,
        ),
        (
            "endurance: RSS growth per 1,000 heartbeats after the first 1,000",
            f"{slope:.2f} MB",
            "< 2 MB",
            slope < 2 or slope != slope,
        ),
        (
            "endurance: growth of file descriptors / threads / None's and True's refcounts",
            f"{month['fd_growth']:.0f} / {month['thread_growth']:.0f} / {month['none_refcount_change']:.0f} / "
            f"{month['true_refcount_change']:.0f}",
            "flat (≤ 2 / ≤ 2 / > -1000 / > -1000)",
            month["fd_growth"] <= 2
            and month["thread_growth"] <= 2
            and month["none_refcount_change"] > -1000
            and month["true_refcount_change"] > -1000,
        ),
        ("endurance: database growth per 1,000 heartbeats", f"{month['db_mb_per_1000']:.2f} MB", "(reported)", True),
    ]

    dq = run("decision_quality.py", "--repeats", "1" if quick else "2", *(["--no-write"] if quick else []))
    rows.append(
        (
            "decision quality, SmolLM2-135M, direct / reason-first: right action, false action",
            f"{dq['direct_right_action_pct']:.0f} / {dq['reason_first_right_action_pct']:.0f} %, "
            f"{dq['direct_false_action_pct']:.0f} / {dq['reason_first_false_action_pct']:.0f} %",
            "both modes measured, 0 errors",
            dq["decision_quality_errors"] == 0,
        )
    )

    if with_bundle:
        rows += bundle_rows()
    return rows, problems


def table(rows: list[Row]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'measured':>24}  {'goal':>24}  verdict"]
    lines += [f"{n:<{width}}  {v:>24}  {g:>24}  {'ok' if ok else 'MISS'}" for n, v, g, ok in rows]
    return "\n".join(lines)


def write_results(rows: list[Row], problems: list[str]) -> None:
    path = HERE / "results.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = old.find(DQ_BEGIN), old.find(DQ_END)
    section = old[start : end + len(DQ_END)] if start != -1 and end != -1 else ""
    machine = (
        f"{platform.node() or 'unknown'}: {platform.system()} {platform.release()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    md = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {machine}.",
        "Produced by `python benchmarks/run_all.py`; every figure is measured in that run.",
        "",
        "| benchmark | measured | goal | verdict |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {value} | {goal} | {'ok' if good else 'MISS'} |" for name, value, goal, good in rows],
        "",
        *([f"Problems: {'; '.join(problems)}", ""] if problems else []),
        section,
    ]
    path.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller stores and windows; writes nothing")
    parser.add_argument("--no-bundle", action="store_true", help="do not build and judge the bundle")
    args = parser.parse_args()
    t0 = time.monotonic()
    try:
        rows, problems = measure(args.quick, not args.no_bundle)
    except Failed as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 1
    print(table(rows))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(
        f"(all benchmarks took {time.monotonic() - t0:.0f} s"
        + (", --quick: results.md not written)" if args.quick else ")")
    )
    if not args.quick:
        write_results(rows, problems)
    return 1 if problems or not all(ok for *_, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
