"""Kill a process running heartbeats with SIGKILL at random (seeded) moments, restart, check invariants.

    python benchmarks/crash_safety.py [--rounds 1000] [--seed 7]

Each round starts a child that runs heartbeats back to back against a loopback Ollama-protocol server with
think time, kills it with SIGKILL after a random 0–0.5 s, reopens the store (which recovers the dead
process's runs) and checks: integrity_check ok, no run left `started`, no committed run lost or
reopened, no run that acted twice, every ok post run has exactly its one post. Prints the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.crash_safety import crash_rounds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        report = crash_rounds(Path(tmp), args.rounds, args.seed)
    print(
        f"rounds={report.rounds} runs_recorded={report.runs} committed_seen={report.committed_seen} "
        f"posts={report.posts} interrupted_by_kill={report.interrupted} problems={len(report.problems)} "
        f"seconds={time.monotonic() - t0:.0f}"
    )
    for problem in report.problems[:20]:
        print("PROBLEM:", problem)
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
