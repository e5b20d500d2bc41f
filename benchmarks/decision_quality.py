"""Decision quality of the real SmolLM2-135M in both decision modes, on the built-in suite.

Starts the tests' Ollama-protocol server on the real engine (`tests/support/real_servers.py`: llama.cpp
compiling `format` into a grammar, as Ollama does; the same build and model as the real-engine tests),
then runs `core.evaluation.evaluate` — what `heartbeat-desktop eval` and Settings → Compare models… run —
over the built-in suite (`resources/eval-suite.toml`) `--repeats` times in each mode, through the app's
own router and client. The model samples at the threads' default temperature (0.7), so each situation is
asked `--repeats` times and the percentages are over all of them.

Prints one line per mode with `key=value` figures (valid, right action, right target, false action, p50
of the model calls, tokens per question) and writes them into benchmarks/results.md (between the
`decision-quality` markers; `--no-write` leaves the file alone). The goal it judges is that the
measurement is whole: every question answered by the server in both modes (0 errors). The figures
themselves have no goal: a 135M model's are what they are, and the point is that they can be measured and
the modes compared on the same suite.

    python benchmarks/decision_quality.py [--repeats 2] [--no-write] [--details FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_desktop import wiring  # noqa: E402
from heartbeat_desktop.core.eval_suite import parse_suite  # noqa: E402
from heartbeat_desktop.core.evaluation import EvalSettings, EvalSummary, evaluate  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.real_servers import start  # noqa: E402

MODES = ("direct", "reason-first")
BEGIN, END = "<!-- decision-quality -->", "<!-- /decision-quality -->"


def merged(summaries: list[EvalSummary], mode: str) -> EvalSummary:
    """All repeats of one mode as one summary (the percentages are then over every question asked)."""
    parts = [s for s in summaries if s.mode == mode]
    whole = EvalSummary(parts[0].model, mode)
    for part in parts:
        whole.results.extend(part.results)
    return whole


def section(rows: list[tuple[str, EvalSummary]], repeats: int, situations: int, seconds: float) -> str:
    lines = [
        BEGIN,
        "## Decision quality: SmolLM2-135M-Instruct, built-in suite",
        "",
        f"Measured {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `python benchmarks/decision_quality.py "
        f"--repeats {repeats}`: the {situations} built-in situations asked {repeats}× in each mode "
        f"({situations * repeats} questions per mode) of SmolLM2-135M-Instruct (Q8_0) on llama.cpp through "
        f"the Ollama protocol, temperature 0.7, in {seconds:.0f} s.",
        "",
        "| mode | valid | right action | right target | false action | p50 per question | tokens per question |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, s in rows:
        per_question = s.tokens / max(1, s.situations)
        lines.append(
            f"| {mode} | {s.valid_pct:.0f} % | {s.right_action_pct:.0f} % | {s.right_target_pct:.0f} % | "
            f"{s.false_action_pct:.0f} % | {(s.p50_ms or 0) / 1000:.1f} s | {per_question:.0f} |"
        )
    lines += [
        "",
        "A 135M model is far below what a heartbeat needs: it acts where nothing calls for it and rarely picks",
        "the post a situation is about. The table is here so the suite and both modes are measured on a real",
        "engine; run `heartbeat-desktop eval --model …` on your own models to choose one.",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = REPO / "benchmarks" / "results.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    updated = pattern.sub(lambda _m: text, current) if pattern.search(current) else current.rstrip() + "\n\n" + text
    path.write_text(updated.rstrip() + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="times each situation is asked per mode")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results.md alone")
    parser.add_argument("--details", type=Path, help="write every question's outcome as JSON here")
    args = parser.parse_args()
    suite = parse_suite((REPO / "resources" / "eval-suite.toml").read_text(encoding="utf-8"), "toml")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = start("ollama", base)
        try:
            store = SqliteStore(base / "heartbeat.db")
            store.settings.set("ollama_host", server.url)
            router = wiring.make_router(store, base)
            settings = EvalSettings(llm_timeout_s=120, context_tokens=store.settings.app().context_tokens)
            summaries: list[EvalSummary] = []
            for _ in range(args.repeats):
                summaries += evaluate(suite, [server.model], MODES, router, settings)
            store.close()
        finally:
            server.stop()
    seconds = time.monotonic() - t0
    rows = [(mode, merged(summaries, mode)) for mode in MODES]
    whole = True
    for mode, s in rows:
        key = mode.replace("-", "_")
        per_question = s.tokens / max(1, s.situations)
        whole &= s.errors == 0
        llm = [r.llm_ms for r in s.results if r.llm_ms is not None]
        print(
            f"{mode}: {key}_questions={s.situations} {key}_valid_pct={s.valid_pct:.1f} "
            f"{key}_right_action_pct={s.right_action_pct:.1f} {key}_right_target_pct={s.right_target_pct:.1f} "
            f"{key}_false_action_pct={s.false_action_pct:.1f} {key}_p50_ms={s.p50_ms or 0:.0f} "
            f"{key}_p95_ms={sorted(llm)[int(0.95 * (len(llm) - 1))] if llm else 0:.0f} "
            f"{key}_tokens_per_question={per_question:.0f} {key}_errors={s.errors}"
        )
    if args.details:
        details = [{"mode": s.mode, **r.to_dict()} for s in summaries for r in s.results]
        args.details.write_text(json.dumps(details, indent=1, ensure_ascii=False), encoding="utf-8")
    if not args.no_write:
        write_section(section(rows, args.repeats, len(suite.situations), seconds))
    mean_tokens = statistics.fmean(r.tokens for _, s in rows for r in s.results)
    print(
        f"decision_quality_errors={sum(s.errors for _, s in rows)} tokens_mean={mean_tokens:.0f} "
        f"seconds={seconds:.0f} (goal: every question answered in both modes) {'ok' if whole else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
