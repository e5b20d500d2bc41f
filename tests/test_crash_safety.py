"""SIGKILL at random (seeded) moments while heartbeats run; after each restart nothing is lost or doubled."""

import os
from pathlib import Path

from tests.crash_safety import crash_rounds


def test_random_kills_lose_nothing_and_never_act_twice(data_dir: Path) -> None:
    rounds = int(os.environ.get("HEARTBEAT_CRASH_ROUNDS", "24"))
    report = crash_rounds(data_dir, rounds=rounds, seed=20261126)
    assert report.problems == []
    assert report.rounds == rounds and report.committed_seen > 0 and report.posts > 0
    assert report.interrupted > 0  # some kills did land inside a run
