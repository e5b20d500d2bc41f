"""`eval` and `replay`: how good a model's decisions are, measured before trusting it.

`eval` asks a suite of situations (the built-in one, or the user's `--suite FILE`) of each model in each
mode and prints a table; `replay` asks a thread's recorded runs again with another model, mode or an
edited HEARTBEAT.md and shows what changed. Both write nothing to the feed, the threads or the history
(the model servers' learned output formats are still remembered, as for any call). Progress goes to
stderr, one line per question, so a slow model is visibly working and `--json` stays parseable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import paths
from ..core import heartbeat_md
from ..core.decide import DECISION_MODES
from ..core.eval_suite import Suite, SuiteError
from ..core.evaluation import (
    TABLE_COLUMNS,
    EvalSettings,
    EvalSummary,
    evaluate,
)
from ..core.present import count_of, local_time
from ..core.replay import replay
from ..files import UnreadableFile, read_user_text
from ..store import SqliteStore
from .common import EXIT_FAIL, EXIT_OK, UsageError, emit
from .config import check_model_name


def read_text_file(path: Path, what: str) -> str:
    try:
        return read_user_text(path, what)
    except UnreadableFile as exc:
        raise UsageError(str(exc)) from None


def load_suite(path: Path | None) -> Suite:
    """`path`, or the suite that ships with the app. Raises UsageError naming the problem."""
    from ..wiring import load_suite as load

    try:
        return load(path)
    except UnreadableFile as exc:
        raise UsageError(str(exc)) from None
    except SuiteError as exc:
        raise UsageError(f"suite {path or 'built-in'}: {exc}") from None


def summary_table(summaries: list[EvalSummary]) -> list[str]:
    header = TABLE_COLUMNS
    rows = [s.cells() for s in summaries]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)
    ]


def cmd_eval(store: SqliteStore, args: argparse.Namespace) -> int:
    from ..wiring import make_router

    if args.suite is not None and not args.suite.strip():
        raise UsageError("--suite needs a file (leave it out for the built-in suite)")
    if args.model is not None and not all(m.strip() for m in args.model):
        raise UsageError("--model needs a model name")
    for model in args.model or []:
        check_model_name(store, model.strip())
    suite = load_suite(Path(args.suite).expanduser() if args.suite else None)
    settings = store.settings.app()
    models = list(dict.fromkeys(m.strip() for m in (args.model or [settings.default_model])))
    modes = list(dict.fromkeys(args.mode or DECISION_MODES))
    own_md: str | None = None
    if suite.needs_heartbeat_md():
        text, warnings = heartbeat_md.read_heartbeat_md(paths.data_dir())
        own_md = text
        for warning in warnings:
            print(f"warning: your HEARTBEAT.md: {warning}", file=sys.stderr)
    router = make_router(store)
    total = len(models) * len(modes) * len(suite.situations)
    print(
        f"Evaluating {count_of(len(models), 'model')} × {count_of(len(modes), 'mode')} on suite {suite.name!r} "
        f"({count_of(len(suite.situations), 'situation')}, {count_of(total, 'question')})…",
        file=sys.stderr,
    )

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

    # Each wrong answer is already in the progress lines and the table: the runner's own warning per failed
    # question ("Heartbeat failed for thread eval") would only repeat it.
    runner_log = logging.getLogger("heartbeat_desktop.core.runner")
    level = runner_log.level
    runner_log.setLevel(logging.ERROR)
    try:
        summaries = evaluate(
            suite,
            models,
            modes,
            router,
            EvalSettings(settings.llm_timeout, settings.context_tokens, own_md),
            progress=progress,
        )
    except SuiteError as exc:
        raise UsageError(str(exc)) from None
    finally:
        runner_log.setLevel(level)
    if args.json:
        emit([s.to_dict() for s in summaries])
    else:
        print(f"Suite {suite.name!r}: {count_of(len(suite.situations), 'situation')}")
        for line in summary_table(summaries):
            print(line)
        for s in summaries:
            wrong = [r for r in s.results if not r.right]
            if wrong:
                print(f"\n{s.model} · {s.mode}: {len(wrong)} wrong")
                for r in wrong:
                    expected = " or ".join(e.label() for e in r.situation.expect)
                    detail = f" ({_clip(r.verdict.detail, 100)})" if r.verdict.outcome in ("invalid", "error") else ""
                    print(f"  {r.situation.id}: {r.verdict.label()}{detail}; expected {expected}")
    dead = [s for s in summaries if s.asked and s.errors == s.asked]  # the app's own "none"s answer nothing
    for s in dead:
        print(f"heartbeat-desktop: error: {s.model} ({s.mode}) answered nothing: {s.first_error()}", file=sys.stderr)
    return EXIT_FAIL if dead else EXIT_OK


def cmd_replay(store: SqliteStore, args: argparse.Namespace) -> int:
    from ..wiring import make_router

    if args.model is not None and not args.model.strip():
        raise UsageError("--model needs a model name")
    if args.model is not None:
        check_model_name(store, args.model.strip())
    if args.thread is not None:
        store.threads.require(args.thread)
    md_text = None
    if args.heartbeat_md is not None:
        md_text = read_text_file(Path(args.heartbeat_md).expanduser(), "HEARTBEAT.md")
        if not heartbeat_md.parse(md_text).is_actionable:
            raise UsageError(f"{args.heartbeat_md} has nothing actionable: a heartbeat would not ask the model")
    runs = store.runs.asked(args.thread, args.last)
    if not runs:
        where = f"thread {args.thread!r} has" if args.thread else "there is"
        print(f"Nothing to replay: {where} no recorded run that asked a model yet.", file=sys.stderr)
        return EXIT_FAIL
    settings = store.settings.app()
    configs = {t.id: t.config for t in store.threads.list()}

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

    result = replay(
        runs,
        make_router(store),
        model=args.model.strip() if args.model else None,
        heartbeat_md_text=md_text,
        mode=args.mode,
        timeout_s=settings.llm_timeout,
        default_model=settings.default_model,
        fallback=configs,
        providers={p.name for p in store.providers.list()},
        progress=progress,
    )
    unanswered = result.errors and result.errors == len(result.items)
    if args.json:
        emit(result.to_dict())
    else:
        what = [f"model {args.model}" if args.model else "each run's model"]
        what.append(f"mode {args.mode}" if args.mode else "each run's mode")
        what.append(f"HEARTBEAT.md from {args.heartbeat_md}" if args.heartbeat_md else "the HEARTBEAT.md each run saw")
        print(f"Replayed {count_of(len(result.items), 'run')} with {', '.join(what)}:")
        width = max((len(i.before.label()) for i in result.items), default=10)
        for item in result.items:
            if item.after.outcome == "error":
                after, mark = f"not answered: {_clip(item.after.detail, 100)}", ""
            else:
                after, mark = item.after.label(), "  CHANGED" if item.changed else ""
            print(
                f"{local_time(item.run.started_at)}  {item.run.thread_id}  {item.run.id[:8]}  "
                f"{item.before.label().ljust(width)}  →  {after}{mark}"
            )
        for run, why in result.not_replayable:
            print(f"{local_time(run.started_at)}  {run.thread_id}  {run.id[:8]}  not replayable: {why}")
        answered = len(result.items) - result.errors
        line = f"{result.changed} of {count_of(answered, 'decision')} changed."
        if result.errors:
            line += f" {count_of(result.errors, 'run')} not answered by the model server."
        if result.not_replayable:
            line += f" {count_of(len(result.not_replayable), 'run')} not replayable (listed above)."
        print(line)
    if unanswered:
        print(f"heartbeat-desktop: error: no run was answered: {result.first_error()}", file=sys.stderr)
    return EXIT_FAIL if unanswered else EXIT_OK


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
