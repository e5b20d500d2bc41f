"""Run every benchmark, print one table, write benchmarks/results.md (machine and date included).

    python benchmarks/run_all.py [--quick]

Each benchmark is its own script run as a child process; this one only collects the `key=value` figures
they print and sets them against their goals. `--quick` shrinks the stores and windows (for a smoke run);
the published figures come from a full run.
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
PAIR = re.compile(r"\b([a-z][a-z0-9_]*)=([-+0-9.]+|inf)")


def run(script: str, *args: str, timeout: int = 1800) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=timeout, cwd=HERE.parent
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed: {result.stderr[-600:]}")
    figures: dict[str, float] = {}
    for line in result.stdout.splitlines():
        for key, value in PAIR.findall(line):
            figures[key] = float(value)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    runs = "100000" if quick else "1000000"
    rows: list[tuple[str, str, str, bool]] = []
    t0 = time.monotonic()

    idle = run("idle_cpu.py", "--threads", "100", "--seconds", "15" if quick else "60")
    rows.append(
        (
            "idle CPU, scheduler (100 threads)",
            f"{idle['scheduler_cpu_percent']:.4f} %",
            "≤ 0.05 %",
            idle["scheduler_cpu_percent"] <= 0.05,
        )
    )
    rows.append(("idle CPU, seed-style 10 s poller", f"{idle['poller_cpu_percent']:.4f} %", "(reference)", True))
    rows.append(
        (
            "wake-ups between due times, scheduler",
            f"{idle['scheduler_wakeups']:.0f}",
            "0",
            idle["scheduler_wakeups"] == 0,
        )
    )
    rows.append(("wake-ups between due times, poller", f"{idle['poller_wakeups']:.0f}", "(reference)", True))

    overhead = run(
        "run_overhead.py",
        "--runs",
        runs,
        "--messages",
        "10000" if quick else "100000",
        "--iterations",
        "200" if quick else "500",
    )
    rows.append(
        (
            f"non-LLM time per run, p50 ({runs} runs)",
            f"{overhead['non_llm_ms_p50']:.2f} ms",
            "< 5 ms",
            overhead["non_llm_ms_p50"] < 5,
        )
    )
    rows.append(
        (
            f"non-LLM time per run, p99 ({runs} runs)",
            f"{overhead['non_llm_ms_p99']:.2f} ms",
            "< 25 ms",
            overhead["non_llm_ms_p99"] < 25,
        )
    )

    launch = run("launch.py", "--idle", "3" if quick else "10")
    rows.append(
        (
            "launch to tray visible",
            f"{launch['launch_to_tray_ms']:.0f} ms",
            "< 2000 ms",
            launch["launch_to_tray_ms"] < 2000,
        )
    )
    rows.append(
        ("idle RSS of the tray app", f"{launch['idle_rss_mb']:.1f} MB", "< 150 MB", launch["idle_rss_mb"] < 150)
    )

    with tempfile.TemporaryDirectory() as tmp:
        history = run("history_open.py", "--runs", runs, "--db", str(Path(tmp) / "h.db"))
    rows.append(
        (
            f"history window open ({runs} runs)",
            f"{history['history_open_ms']:.1f} ms",
            "< 200 ms",
            history["history_open_ms"] < 200,
        )
    )
    rows.append(
        (
            "history scroll to end, worst step",
            f"{history['scroll_to_end_ms_max']:.1f} ms",
            "< 200 ms",
            history["scroll_to_end_ms_max"] < 200,
        )
    )

    stall = run("gui_stall.py", "--runs", "10", "--delay", "3")
    rows.append(
        (
            "GUI thread max stall, 10 runs on a slow server",
            f"{stall['gui_max_stall_ms']:.1f} ms",
            "≤ 16 ms",
            stall["gui_max_stall_ms"] <= 16,
        )
    )

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

    width = max(len(r[0]) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'measured':>12}  {'goal':>12}  verdict"]
    lines += [
        f"{name:<{width}}  {value:>12}  {goal:>12}  {'ok' if good else 'MISS'}" for name, value, goal, good in rows
    ]
    print("\n".join(lines))
    print(f"(all benchmarks took {time.monotonic() - t0:.0f} s{', --quick' if quick else ''})")

    machine = (
        f"{platform.node() or 'unknown'}: {platform.system()} {platform.release()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    md = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {machine}"
        + (" with `--quick` (smaller stores, shorter windows)." if quick else "."),
        "Produced by `python benchmarks/run_all.py`; every figure is measured in that run.",
        "",
        "| benchmark | measured | goal | verdict |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {value} | {goal} | {'ok' if good else 'MISS'} |" for name, value, goal, good in rows],
        "",
    ]
    (HERE / "results.md").write_text("\n".join(md), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
