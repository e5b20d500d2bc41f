"""`setup`: the first-run window in a terminal. Lists the model servers found on their usual local addresses
and what each serves, lets the person pick one model (a numbered prompt, or `--server URL --model NAME`),
stores it as Settings and `provider add` do, runs one dry-run heartbeat, prints its decision and the two
lines on what a heartbeat will do and how to pause it. `--json` alone lists what was found, for scripts.

Exit codes: 0 a model was stored and its dry run did not fail (or `--json` listed), 1 no server or model was
found or the dry run failed, 2 a bad choice (an unknown model, a `--server` where nothing answers a model
server, no answer at the prompt).
"""

from __future__ import annotations

import argparse
import sys

from .. import paths
from ..core.control import Request, Verb
from ..core.models import RunRecord
from ..core.present import describe_run, run_summary
from ..llm import discover
from ..store import SqliteStore
from .common import EXIT_FAIL, EXIT_OK, UsageError, emit, tell_running_app, warn

Pick = tuple[discover.FoundServer, str]


def cmd_setup(store: SqliteStore, args: argparse.Namespace) -> int:
    from .. import first_run

    store.threads.require(args.thread)  # before anything is stored
    found = _look(args.server)
    if args.json and not args.model:
        emit(found.to_dict() | {"install_help": None if found.servers else first_run.INSTALL_OLLAMA})
        return EXIT_OK
    if not args.json:
        _print_found(found)
    picks = [(server, model) for server in found.servers for model in server.models]
    if not picks:
        if found.servers:
            what = "serves no model yet: pull one (ollama pull llama3.2) or load one in it, then run setup again"
            print(f"\n{found.servers[0].label} {what}", file=sys.stderr)
        else:
            print("\n" + first_run.INSTALL_OLLAMA, file=sys.stderr)
        return EXIT_FAIL
    server, model = _pick(picks, args.model) if args.model else _ask(picks)
    chosen = first_run.choose(store, server, model)
    tell_running_app(Request(Verb.RELOAD))  # a running app must use the new model for the dry run it does
    run = _dry_run(store, args.thread)
    lines = first_run.explanation(store, args.thread)
    if args.json:
        emit({"chosen": {"model": chosen.model, "provider": chosen.provider, "stored": list(chosen.changed)},
              "run": run_summary(run), "explanation": list(lines)})  # fmt: skip
    else:
        print("Stored: " + "; ".join(chosen.changed))
        for note in chosen.own_models:
            warn(f"{note} (heartbeat-desktop config set --thread ID model {chosen.model} changes it)")
        print(f"Dry-run heartbeat with {chosen.model}: {describe_run(run)}")
        print("\n" + "\n".join(lines))
    return EXIT_FAIL if run.status == "failed" else EXIT_OK


def _look(server: str | None) -> discover.Look:
    if server is None:
        return discover.look()
    address = server.strip().rstrip("/")
    found = discover.look((address,))
    if not found.servers:
        why = found.silent.get(address, "nothing answered")
        raise UsageError(f"no model server at {address}: {why}")
    return found


def _print_found(found: discover.Look) -> None:
    number = 0
    if found.servers:
        print("Model servers found:")
    for server in found.servers:
        print(f"  {server.label} ({server.base_url})" + (f" — {server.note}" if server.note else ""))
        for model in server.models:
            number += 1
            print(f"    {number}) {model}")
        if not server.models and not server.note:
            print("    (serves no model yet)")
    if found.silent:
        print("Not found: " + ", ".join(f"{address} ({why})" for address, why in found.silent.items()))


def _pick(picks: list[Pick], model: str) -> Pick:
    """`--model NAME`: the one found model of that name (with `--server`, on that server)."""
    matches = [p for p in picks if model in (p[1], f"{p[0].name}:{p[1]}") or f"{model}:latest" == p[1]]
    if not matches:
        shown = ", ".join(dict.fromkeys(m for _, m in picks))
        raise UsageError(f"no server found serves {model!r}; found: {shown}")
    if len({p[0].address for p in matches}) > 1:
        where = ", ".join(p[0].address for p in matches)
        raise UsageError(f"{model!r} is served at {where}: say which with --server URL")
    return matches[0]


def _ask(picks: list[Pick]) -> Pick:
    """The numbered prompt; Enter takes the first. Read from stdin whether or not it is a terminal, so a
    script can pipe the answer."""
    while True:
        numbers = f"1–{len(picks)}, " if len(picks) > 1 else ""  # "[1–1, …]" offered no choice
        print(f"Use which model? [{numbers}Enter for 1, q to quit]: ", end="", flush=True)
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line:
            print()
            raise UsageError("no model chosen (or use --server URL --model NAME)")
        answer = line.strip().lower()
        if answer in ("q", "quit"):
            raise UsageError("no model chosen; nothing was changed")
        if not answer:
            return picks[0]
        if answer.isdigit() and 1 <= int(answer) <= len(picks):
            return picks[int(answer) - 1]
        print(f"  type a number from 1 to {len(picks)}", file=sys.stderr)


def _dry_run(store: SqliteStore, thread: str) -> RunRecord:
    """In the running app when there is one (the one writer), else here; Ctrl-C cancels it, as run-now."""
    from .run import _cancelled_by_signals, _run_in_running_app

    run = _run_in_running_app(store, argparse.Namespace(thread=thread, dry_run=True))
    if run is not None:
        return run
    from ..wiring import make_runner

    runner = make_runner(store, paths.data_dir())
    with _cancelled_by_signals(runner.cancel):
        return runner.run(thread, trigger="manual", dry_run=True)
