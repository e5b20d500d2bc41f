"""Heartbeats against real model servers with a real model: how many decisions are valid, and how fast.

Starts the real servers of the test suite (`tests/support/real_servers.py`), all running
SmolLM2-135M-Instruct on llama.cpp:
- `ollama`: the Ollama protocol, `format` compiled by llama.cpp's grammar engine as Ollama does;
- `openai`: llama-cpp-python's own OpenAI-compatible server, added as a keyless `--kind openai` provider;
- `llama-server`: llama.cpp's own C++ server, the same way (`tests/support/llama_server_bin.py` says where
  the binary comes from; `packaging/dev-env.sh` builds it).
Then runs `--runs` heartbeats per path through the app's own wiring (`wiring.make_runner`: router, client,
output-format ladder, runner, validation), rotating through four situations so every schema shape is
used: a feed with posts (every action possible), an empty feed (no comment/vote), a thread allowed only
to vote, and a thread at its daily post cap (no post). Runs are dry: nothing is written to the feed, so
each situation stays the same.

Per path it prints: valid decisions, refusals by the app's own policy (allow-list, post cap), invalid
replies, server or grammar errors, LLM time p50/p95 and tokens. Goal (issue #12): ≥ 95 % valid over
≥ 20 runs on each path, 0 server or grammar errors.

    python benchmarks/real_model.py [--runs 20] [--paths ollama,openai,llama-server] [--details FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_desktop import wiring  # noqa: E402
from heartbeat_desktop.core.config import HeartbeatConfig  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.real_servers import RealServer, start  # noqa: E402

GOAL_VALID_PCT = 95.0
SITUATIONS = ("feed", "empty_feed", "vote_only", "post_cap_reached")
SERVER_KINDS = {"http_error", "unreachable", "timeout", "model_not_found", "auth"}


def prepare(directory: Path, server: RealServer, situation: str) -> SqliteStore:
    """A data dir with the shipped HEARTBEAT.md, a thread with messages and notes, and (most) a feed."""
    directory.mkdir(parents=True)
    store = SqliteStore(directory / "heartbeat.db")
    (directory / "HEARTBEAT.md").write_text((REPO / "HEARTBEAT.md").read_text(encoding="utf-8"), encoding="utf-8")
    if server.kind in ("openai", "llama-server"):
        store.providers.save("local", "openai", server.url)
        model = f"local:{server.model}"
    else:
        store.settings.set("ollama_host", server.url)
        model = server.model
    store.settings.set("default_model", model)
    store.settings.set("llm_timeout", "120")
    thread = "default"
    store.threads.add_message(thread, "Remind me to call Ana on Friday about the garden plans.")
    store.threads.add_message(thread, "Also: is the team meeting on Tuesday or Wednesday?")
    store.threads.add_note(thread, "Meeting day: Tuesday (message of Monday) vs Wednesday (calendar)", "contradiction")
    store.threads.add_note(thread, "Ana prefers calls after 5 pm.")
    if situation != "empty_feed":
        store.threads.create("news", "News")
        for title, content in (
            ("Team meeting moved", "The weekly team meeting is on Wednesday from now on."),
            ("Garden plans", "Ana shared the garden layout; tomatoes go along the south fence."),
            ("Weekly reading list", "Three articles on local-first software and small language models."),
        ):
            post = {"action": "post", "title": title, "content": content}
            store.db.transaction(lambda c, p=post: store.feed.write_action(c, p, "news", None, time.time()))
    updates: dict[str, object] = {}
    if situation == "vote_only":
        updates["allowed_actions"] = ("vote",)
    if situation == "post_cap_reached":
        updates["max_posts_per_day"] = 0
    if updates:
        config = HeartbeatConfig.from_dict(store.threads.get(thread).config_json).model_copy(update=updates)
        store.threads.set_config(thread, HeartbeatConfig(**config.to_dict()))
    return store


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def measure(server: RealServer, runs: int, base: Path, details: list[dict]) -> dict[str, float]:
    stores = {s: prepare(base / f"{server.kind}-{s}", server, s) for s in SITUATIONS}
    counts: collections.Counter[str] = collections.Counter()
    llm_ms: list[float] = []
    tokens: list[int] = []
    for i in range(runs):
        situation = SITUATIONS[i % len(SITUATIONS)]
        store = stores[situation]
        run = wiring.make_runner(store, base / f"{server.kind}-{situation}").run(
            "default", trigger="manual", dry_run=True
        )
        if run.status == "ok":
            outcome = "valid"
        elif run.reason.startswith("refused:"):
            outcome = "refused"
        elif run.error_kind in SERVER_KINDS:
            outcome = "server_error"
        else:
            outcome = "invalid"
        counts[outcome] += 1
        if run.llm_ms is not None:
            llm_ms.append(run.llm_ms)
        tokens.append((run.prompt_tokens or 0) + (run.completion_tokens or 0))
        details.append(
            {
                "path": server.kind,
                "situation": situation,
                "outcome": outcome,
                "reason": run.reason,
                "decision": run.decision,
                "raw_reply": run.raw_reply,
                "warnings": run.warnings,
                "llm_ms": run.llm_ms,
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.completion_tokens,
            }
        )
    for store in stores.values():
        store.close()
    return {
        "runs": runs,
        "valid_pct": 100.0 * counts["valid"] / runs,
        "refused": counts["refused"],
        "invalid": counts["invalid"],
        "server_errors": counts["server_error"],
        "llm_ms_p50": percentile(llm_ms, 50),
        "llm_ms_p95": percentile(llm_ms, 95),
        "tokens_mean": statistics.fmean(tokens) if tokens else 0.0,
        "tokens_total": float(sum(tokens)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="heartbeats per path (default 20)")
    parser.add_argument(
        "--paths", default="ollama,openai,llama-server", help="comma-separated: ollama, openai, llama-server"
    )
    parser.add_argument("--details", type=Path, help="write every run (reply, decision, reason) as JSON here")
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    details: list[dict] = []
    all_ok = True
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for kind in paths:
            server = start(kind, base)
            try:
                figures = measure(server, args.runs, base, details)
            finally:
                server.stop()
            ok = figures["valid_pct"] >= GOAL_VALID_PCT and figures["server_errors"] == 0 and args.runs >= 20
            all_ok &= ok
            k = kind.replace("-", "_")
            print(
                f"{k}: {k}_runs={figures['runs']} {k}_valid_pct={figures['valid_pct']:.1f} "
                f"{k}_refused={figures['refused']} {k}_invalid={figures['invalid']} "
                f"{k}_server_errors={figures['server_errors']} "
                f"{k}_llm_ms_p50={figures['llm_ms_p50']:.0f} {k}_llm_ms_p95={figures['llm_ms_p95']:.0f} "
                f"{k}_tokens_mean={figures['tokens_mean']:.0f} {k}_tokens_total={figures['tokens_total']:.0f} "
                f"(goal: valid >= {GOAL_VALID_PCT:g} %, 0 server errors, >= 20 runs) {'ok' if ok else 'MISS'}"
            )
    if args.details:
        args.details.write_text(json.dumps(details, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"verdict={'ok' if all_ok else 'MISS'} seconds={time.monotonic() - t0:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
