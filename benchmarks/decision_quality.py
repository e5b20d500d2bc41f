"""Decision quality of the real SmolLM2-135M in both decision modes, on the built-in suite.

Starts the tests' Ollama-protocol server on the real engine (`tests/support/real_servers.py`: llama.cpp
compiling `format` into a grammar, as Ollama does; the same build and model as the real-engine tests),
then runs `core.evaluation.evaluate` — what `heartbeat-desktop eval` and Settings → Compare models… run —
over the built-in suite (`resources/eval-suite.toml`) `--repeats` times in each mode, through the app's
own router and client. The model samples at the threads' default temperature (0.2; `--temperature` for
another), so each situation is asked `--repeats` times and the percentages are over all of them.

Prints one line per mode with `key=value` figures (valid, right action, right target, right rule, wrong but
valid, false action, false writes, feedback right, p50 of the model calls, tokens per question) and writes them into
benchmarks/results.md (between the `decision-quality` markers, one pair per model; `--no-write` leaves the
file alone). It judges two goals: the measurement is whole (every question answered in every row), and for
a `--model` run, issue #26's goal for a laptop-sized model: in the better mode (with the nothing-new rule on),
false action ≤ 15 % with right action ≥ 60 %, and ≥ 80 % of the feedback situations right. SmolLM2-135M has
no quality goal: a 135M model's figures are what they are; they are measured so the modes can be compared.

    python benchmarks/decision_quality.py [--repeats 2] [--nothing-new on|off|both] [--no-write] [--details FILE]
    python benchmarks/decision_quality.py --model qwen.gguf --label "Qwen2.5-Coder-1.5B-Instruct" --threads 2 \\
        --repeats 1 --nothing-new both        # the GGUF from benchmarks/qwen_model.py
"""

from __future__ import annotations

import argparse
import json
import os
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
from heartbeat_desktop.core.config import HeartbeatConfig  # noqa: E402
from heartbeat_desktop.core.eval_suite import Suite, parse_suite  # noqa: E402
from heartbeat_desktop.core.evaluation import EvalSettings, EvalSummary, evaluate  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.real_servers import start  # noqa: E402

MODES = ("direct", "reason-first")


def merged(summaries: list[EvalSummary], mode: str) -> EvalSummary:
    """All repeats of one mode as one summary (the percentages are then over every question asked)."""
    parts = [s for s in summaries if s.mode == mode]
    whole = EvalSummary(parts[0].model, mode)
    for part in parts:
        whole.results.extend(part.results)
    return whole


def without_nothing_new(suite: Suite) -> Suite:
    """The suite with the "nothing new calls for it" rule off in every situation (its effect is measured)."""
    off = [s.model_copy(update={"config": {**s.config, "require_new_evidence": False}}) for s in suite.situations]
    return suite.model_copy(update={"situations": off})


def at_temperature(suite: Suite, temperature: float) -> Suite:
    """The suite asked at `temperature` instead of the threads' default (a situation's own setting wins)."""
    warm = [s.model_copy(update={"config": {"temperature": temperature, **s.config}}) for s in suite.situations]
    return suite.model_copy(update={"situations": warm})


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def section(rows: list[tuple[str, EvalSummary]], args: argparse.Namespace, situations: int, seconds: float) -> str:
    repeats, label = args.repeats, args.label
    lines = [
        _begin(args),
        f"## Decision quality: {label}, built-in suite",
        "",
        f"Measured {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `python benchmarks/decision_quality.py "
        f"{' '.join(sys.argv[1:])}`: the {situations} built-in situations asked {repeats}× in each mode "
        f"({situations * repeats} questions per row) of {label} on llama.cpp through the Ollama protocol "
        f"({args.threads} thread(s)), temperature {args.temperature:g}, in {seconds:.0f} s.",
        "",
        "| mode | valid | right action | right target | right rule | wrong but valid | false action | false writes "
        "| feedback right | p50 per question | tokens per question |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, s in rows:
        per_question = s.tokens / max(1, s.situations)
        lines.append(
            f"| {mode} | {_pct(s.valid_pct)} | {_pct(s.right_action_pct)} | {_pct(s.right_target_pct)} | "
            f"{_pct(s.right_rule_pct)} | {_pct(s.wrong_but_valid_pct)} | {_pct(s.false_action_pct)} | "
            f"{_pct(s.false_write_pct)} | {_pct(s.feedback_right_pct)} | {(s.p50_ms or 0) / 1000:.1f} s | "
            f"{per_question:.0f} |"
        )
    lines += [
        "",
        "Right rule: of the situations that name the HEARTBEAT.md item an action should follow, the share answered",
        "rightly and citing it. Feedback right: right among the situations with earlier feedback (a rejection, or",
        'items the last heartbeat already saw). Rows marked "nothing-new off" ran with `require_new_evidence`',
        "off in every situation: the difference is what the rule does.",
        _end(args),
    ]
    return "\n".join(lines)


def _begin(args: argparse.Namespace) -> str:
    return "<!-- decision-quality -->" if args.model is None else f"<!-- decision-quality:{args.model.stem} -->"


def _end(args: argparse.Namespace) -> str:
    return "<!-- /decision-quality -->" if args.model is None else f"<!-- /decision-quality:{args.model.stem} -->"


def write_section(text: str, args: argparse.Namespace) -> None:
    path = REPO / "benchmarks" / "results.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(_begin(args)) + ".*?" + re.escape(_end(args)), re.S)
    updated = pattern.sub(lambda _m: text, current) if pattern.search(current) else current.rstrip() + "\n\n" + text
    path.write_text(updated.rstrip() + "\n", encoding="utf-8")


def measure(args: argparse.Namespace, suites: list[tuple[str, Suite]]) -> list[tuple[str, EvalSummary]]:
    """Every suite variant in both modes, `--repeats` times, on one server."""
    rows: list[tuple[str, EvalSummary]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = start("ollama", base, threads=args.threads)
        try:
            store = SqliteStore(base / "heartbeat.db")
            store.settings.set("ollama_host", server.url)
            router = wiring.make_router(store, base)
            settings = EvalSettings(llm_timeout_s=300, context_tokens=store.settings.app().context_tokens)
            for tag, suite in suites:
                summaries: list[EvalSummary] = []
                for _ in range(args.repeats):
                    summaries += evaluate(suite, [server.model], args.modes, router, settings)
                rows += [(f"{mode}{tag}", merged(summaries, mode)) for mode in args.modes]
            store.close()
        finally:
            server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="times each situation is asked per mode")
    parser.add_argument("--model", type=Path, help="a GGUF file to measure instead of SmolLM2-135M")
    parser.add_argument("--label", default="SmolLM2-135M-Instruct", help="the model's name in the table")
    parser.add_argument("--threads", type=int, default=1, help="the engine's threads")
    parser.add_argument(
        "--nothing-new", choices=["on", "off", "both"], default="on", help="the require_new_evidence rule"
    )
    parser.add_argument(
        "--temperature", type=float, default=None, help="the model's temperature (default: the threads' default)"
    )
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both", help="the decision modes measured")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results.md alone")
    parser.add_argument("--details", type=Path, help="write every question's outcome as JSON here")
    args = parser.parse_args()
    args.modes = MODES if args.mode == "both" else (args.mode,)
    if args.model is not None:
        if not args.model.is_file():
            parser.error(f"no such file: {args.model}")
        os.environ["HEARTBEAT_TEST_GGUF"] = str(args.model.resolve())  # the engine's server loads this one
    suite = parse_suite((REPO / "resources" / "eval-suite.toml").read_text(encoding="utf-8"), "toml")
    if args.temperature is None:
        args.temperature = HeartbeatConfig().temperature  # what the app asks with
    else:
        suite = at_temperature(suite, args.temperature)
    variants = {"on": [("", suite)], "off": [(", nothing-new off", without_nothing_new(suite))]}
    variants["both"] = variants["on"] + variants["off"]
    t0 = time.monotonic()
    rows = measure(args, variants[args.nothing_new])
    seconds = time.monotonic() - t0
    whole = True
    for mode, s in rows:
        key = mode.split(",")[0].replace("-", "_")
        per_question = s.tokens / max(1, s.situations)
        whole &= s.errors == 0
        llm = [r.llm_ms for r in s.results if r.llm_ms is not None]
        print(
            f"{mode}: {key}_questions={s.situations} {key}_valid_pct={s.valid_pct:.1f} "
            f"{key}_right_action_pct={s.right_action_pct:.1f} {key}_right_target_pct={s.right_target_pct:.1f} "
            f"{key}_right_rule_pct={s.right_rule_pct or 0:.1f} {key}_wrong_but_valid_pct={s.wrong_but_valid_pct:.1f} "
            f"{key}_false_action_pct={s.false_action_pct:.1f} {key}_false_write_pct={s.false_write_pct:.1f} "
            f"{key}_feedback_right_pct={s.feedback_right_pct or 0:.1f} "
            f"{key}_p50_ms={s.p50_ms or 0:.0f} "
            f"{key}_p95_ms={sorted(llm)[int(0.95 * (len(llm) - 1))] if llm else 0:.0f} "
            f"{key}_tokens_per_question={per_question:.0f} {key}_errors={s.errors}"
        )
    if args.details:
        details = [{"mode": mode, **r.to_dict()} for mode, s in rows for r in s.results]
        args.details.write_text(json.dumps(details, indent=1, ensure_ascii=False), encoding="utf-8")
    if not args.no_write:
        write_section(section(rows, args, len(suite.situations), seconds), args)
    mean_tokens = statistics.fmean(r.tokens for _, s in rows for r in s.results)
    print(
        f"decision_quality_errors={sum(s.errors for _, s in rows)} tokens_mean={mean_tokens:.0f} "
        f"seconds={seconds:.0f} (goal: every question answered in every row) {'ok' if whole else 'MISS'}"
    )
    if args.model is not None and args.nothing_new != "off":
        best = max((s for mode, s in rows if "," not in mode), key=lambda s: s.right_action_pct or 0)
        # The figure is false action (what the model chose), not false writes: judged on it.
        met = (best.false_action_pct or 0) <= 15 and (best.right_action_pct or 0) >= 60
        met &= (best.feedback_right_pct or 0) >= 80
        print(
            f"best_mode={best.mode} false_action_pct={best.false_action_pct:.1f} false_write_pct="
            f"{best.false_write_pct:.1f} right_action_pct="
            f"{best.right_action_pct:.1f} feedback_right_pct={best.feedback_right_pct or 0:.1f} (goal #26: false "
            f"action <= 15 % with right action >= 60 % in the better mode, feedback right >= 80 %) "
            f"{'ok' if met else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
