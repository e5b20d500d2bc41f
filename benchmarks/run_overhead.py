"""Time of the non-LLM part of one heartbeat on a store that already holds many runs.

Builds a temp store with `--runs` history rows (default 100k), `--messages` messages and `--posts` feed
posts, starts the loopback Ollama-protocol server from the tests (instant replies), then runs `--iterations`
real heartbeats through the real runner, store and client. For each run it measures the wall time of
`runner.run()` and subtracts the LLM call's own time (`llm_ms`, measured around the HTTP exchange), which
leaves precheck + context + prompt + validation + the writes. The model answers post, comment, vote and
none in turn (comments and votes on a post the run was shown), under caps high enough that no run is
refused: only runs that end ok are timed, and the refused or failed ones are counted and printed
(`run_all.py` fails on any). Prints percentiles; asserts nothing.

    python benchmarks/run_overhead.py [--runs 100000] [--iterations 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_desktop.core.config import HeartbeatConfig  # noqa: E402
from heartbeat_desktop.core.runner import HeartbeatRunner  # noqa: E402
from heartbeat_desktop.llm import OllamaClient  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.citing import cite_from  # noqa: E402
from tests.support.ollama_server import OllamaServer, Reply, Respond  # noqa: E402


def populate(store: SqliteStore, runs: int, messages: int, posts: int) -> None:
    rng = random.Random(7)
    now = time.time()
    statuses = ["ok", "ok", "skipped", "failed"]

    def work(c) -> None:
        c.executemany(
            "INSERT INTO runs (id, thread_id, trigger, status, reason, model, prompt, raw_reply, decision, "
            "started_at, finished_at, llm_ms, total_ms) VALUES (?, 'default', 'schedule', ?, 'r', 'llama3.2', "
            "?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    str(uuid.uuid4()),
                    rng.choice(statuses),
                    "p" * 400,
                    '{"action": "none"}',
                    '{"action": "none"}',
                    now - (runs - i) * 60,
                    now - (runs - i) * 60 + 2,
                    1500.0,
                    1520.0,
                )
                for i in range(runs)
            ),
        )
        c.executemany(
            "INSERT INTO messages (thread_id, role, text, created_at) VALUES ('default', ?, ?, ?)",
            (
                (rng.choice(["user", "assistant"]), f"message {i} " + "w" * rng.randint(20, 400), now - messages + i)
                for i in range(messages)
            ),
        )
        c.executemany(
            "INSERT INTO posts (thread_id, title, content, created_at) VALUES ('default', ?, ?, ?)",
            ((f"post {i}", "c" * 300, now - posts + i) for i in range(posts)),
        )

    store.db.transaction(work)


def shown_post_ids(fmt: object) -> list[int]:
    """The post ids the run's schema (`format`) offers: the posts its context showed."""
    if isinstance(fmt, dict):
        if isinstance(fmt.get("post_id"), dict):
            return [int(i) for i in fmt["post_id"].get("enum", [])]
        return [i for value in fmt.values() for i in shown_post_ids(value)]
    if isinstance(fmt, list):
        return [i for value in fmt for i in shown_post_ids(value)]
    return []


def answerer() -> Respond:
    """Post, comment, vote, none in turn — every action's write path is timed, none is refused."""
    turn = [0]

    def answer(body: dict) -> Reply:
        turn[0] += 1
        ids = shown_post_ids(body.get("format"))
        kind = ("post", "comment", "vote", "none")[turn[0] % 4]
        if kind == "post" or not ids:
            decision = {"action": "post", "title": f"Bench post {turn[0]}", "content": f"c{turn[0]}", "reason": "r"}
        elif kind == "comment":
            decision = {"action": "comment", "post_id": ids[turn[0] % len(ids)], "content": "c", "reason": "r"}
        elif kind == "vote":
            decision = {"action": "vote", "post_id": ids[turn[0] % len(ids)], "direction": "up", "reason": "r"}
        else:
            decision = {"action": "none", "reason": "quiet"}
        return Reply(json.dumps(cite_from(body, decision)))  # as a model under the grammar would

    return Respond(answer)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "HEARTBEAT.md").write_text((REPO / "HEARTBEAT.md").read_text(encoding="utf-8"), encoding="utf-8")
        store = SqliteStore(data / "heartbeat.db")
        t0 = time.perf_counter()
        populate(store, args.runs, args.messages, args.posts)
        setup_s = time.perf_counter() - t0
        store.threads.set_config(
            "default",
            # The write path is what is timed, not the nothing-new rule (#26): every turn acts on the same feed.
            HeartbeatConfig(
                max_posts_per_day=200, max_comments_per_day=500, max_votes_per_day=500, require_new_evidence=False
            ),
        )
        server = OllamaServer().start()
        server.default = answerer()
        runner = HeartbeatRunner(store, OllamaClient(server.url), default_workspace=data)
        non_llm: list[float] = []
        llm: list[float] = []
        statuses: dict[str, int] = {}
        actions: dict[str, int] = {}
        for _ in range(args.iterations):
            start = time.perf_counter()
            run = runner.run("default", trigger="manual")
            wall_ms = (time.perf_counter() - start) * 1000
            outcome = "refused" if run.reason.startswith("refused") else run.status
            statuses[outcome] = statuses.get(outcome, 0) + 1
            if run.status != "ok":
                print(f"not timed: {outcome}: {run.reason}", file=sys.stderr)
                continue
            kind = (run.decision or {}).get("action", "?")
            actions[kind] = actions.get(kind, 0) + 1
            llm.append(run.llm_ms or 0.0)
            non_llm.append(wall_ms - (run.llm_ms or 0.0))
        server.stop()
        total_runs = store.db.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        store.close()

    print(f"store: {total_runs} runs, {args.messages} messages, {args.posts} posts (built in {setup_s:.1f} s)")
    print(f"iterations: {args.iterations}, outcomes: {statuses}, timed actions: {actions}")
    print(
        f"store_runs={total_runs} timed_runs={len(non_llm)} refused_runs={statuses.get('refused', 0)} "
        f"failed_runs={sum(n for k, n in statuses.items() if k not in ('ok', 'refused'))}"
    )
    if not non_llm:
        print("no run ended ok: nothing to time", file=sys.stderr)
        return 1
    print(f"llm call (loopback, instant reply): p50={statistics.median(llm):.2f} ms")
    print(
        f"non_llm_ms_p50={statistics.median(non_llm):.2f} non_llm_ms_p95={pct(non_llm, 95):.2f} "
        f"non_llm_ms_p99={pct(non_llm, 99):.2f} non_llm_ms_max={max(non_llm):.2f} "
        f"non_llm_ms_mean={statistics.fmean(non_llm):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
