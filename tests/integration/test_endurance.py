"""Two simulated days of the real tray app (benchmarks/endurance.py, short): 4 threads every 30 minutes. Four
threads, not more: at 1,440× an interval is 1.25 real seconds, and the burst must fit in it with room to spare
while the parallel suite shares the two cores (ten once ran 1.5 s late there and a slot was passed over).

The month is the benchmark's; this day runs in every suite and fails on what a month would kill the app with: a
crash, a slot skipped (but for one a stalled machine left a whole interval behind) or run twice, a leak of
references (None's count falling, as it did with PySide6 6.12.0 on Python 3.11), or descriptors and threads that
pile up. CI installs the tools (.ci/run); there it must run, never skip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.support.xserver import require_tools

TOOLS = ("Xvfb", "trayer", "dbus-daemon", "dunst")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_simulated_day_keeps_every_slot_and_leaks_nothing() -> None:
    require_tools(TOOLS)
    out = subprocess.run(
        [sys.executable, "benchmarks/endurance.py", "--threads", "4", "--days", "2", "--rate", "1440", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["alive"], result["stderr_tail"]
    assert result["heartbeats"] >= 300, result  # 4 threads × 96 slots; the first minutes start the app
    # A slot passed over by a catch-up that started more than a whole interval after it is the machine's, not
    # the schedule's: at 1,440x an interval is 1.25 real seconds, and a suite sharing two cores with other work
    # once stalled the app that long twice in a day (the benchmark, on its own, judges 0 skipped). Any other skip
    # is a scheduling fault; and a machine that stalls the app for a sixth of the slots proves nothing either way.
    unexplained = result["skipped"] - result["skipped_while_behind"]
    assert (unexplained, result["doubled"]) == (0, 0), result["slot_examples"]
    assert result["skipped_while_behind"] <= result["slots_due"] // 6, result["slot_examples"]
    for immortal_on_3_12 in ("none_refcount_change", "true_refcount_change"):
        assert result[immortal_on_3_12] is not None and result[immortal_on_3_12] > -500, result
    assert result["fd_growth"] <= 2 and result["thread_growth"] <= 2, result
