"""How fast the History window opens and scrolls on a store of a million runs.

    python benchmarks/history_open.py [--runs 1000000]

Builds (once, cached in --db if given) a store with `--runs` runs spread over 90 days across five
threads, then, on the GUI thread with the offscreen platform: creates and shows the real HistoryWindow
and waits until its first page is painted ("open"), then scrolls to the end of the loaded rows 20 times,
each pulling the next page through fetchMore ("scroll to end"), and times a filter change. The chart's
aggregate runs on a background task and is reported separately (it never blocks the window). Prints
measured figures against the 200 ms goal; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from heartbeat_desktop.store import SqliteStore  # noqa: E402

STATUSES = ["ok"] * 6 + ["skipped"] * 3 + ["failed", "interrupted"]
THREADS = ["default", "work", "family", "research", "health"]


def populate(path: Path, runs: int, days: int = 90, seed: int = 11) -> None:
    """A realistic-looking store: runs over `days`, some posts, comments and messages."""
    rng = random.Random(seed)
    store = SqliteStore(path)
    for thread in THREADS[1:]:
        if store.threads.get(thread) is None:
            store.threads.create(thread, thread.title())
    now = time.time()
    start = now - days * 86400
    step = (now - start) / max(runs, 1)

    def rows():
        for i in range(runs):
            status = rng.choice(STATUSES)
            ts = start + i * step + rng.random() * step
            thread = rng.choice(THREADS)
            decision = None
            if status == "ok":
                kind = rng.choice(["none"] * 8 + ["post", "vote"])
                decision = {"action": kind, "reason": "demo"}
                if kind == "post":
                    decision.update(title=f"Summary {i}", content="…")
                if kind == "vote":
                    decision.update(post_id=1, direction="up")
            llm = rng.gauss(2200, 600) if status in ("ok", "failed") else None
            reason = {
                "ok": "demo",
                "skipped": "nothing new since the last successful run",
                "failed": "cannot reach Ollama at http://127.0.0.1:11434 — start Ollama",
                "interrupted": "the app stopped before this run finished",
            }[status]
            yield (
                str(uuid.UUID(int=rng.getrandbits(128))),
                thread,
                "schedule",
                status,
                reason,
                "llama3.2",
                json.dumps(decision) if decision else None,
                ts,
                ts + 2,
                llm,
                (llm or 5) + 12,
            )

    def work(c) -> None:
        c.executemany(
            "INSERT INTO runs (id, thread_id, trigger, status, reason, model, decision, started_at, finished_at, "
            "llm_ms, total_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )

    store.db.transaction(work)
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="reuse/keep the generated store here")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from heartbeat_desktop.qt.windows.history_window import HistoryWindow
    from heartbeat_desktop.qt.windows.window_state import WindowMemory

    app = QApplication([])
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "heartbeat.db"
    if not db.exists():
        t0 = time.perf_counter()
        populate(db, args.runs)
        print(f"built a store of {args.runs} runs in {time.perf_counter() - t0:.1f} s")
    store = SqliteStore(db, recover=False)
    total = store.db.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    t0 = time.perf_counter()
    window = HistoryWindow(store, db, WindowMemory(Path(tmp.name)), lambda: [(t, t.title()) for t in THREADS])
    window.show()
    while window.model.rowCount() == 0:
        app.processEvents()
    window.table.viewport().repaint()
    open_ms = (time.perf_counter() - t0) * 1000

    scroll_ms: list[float] = []
    for _ in range(20):
        t1 = time.perf_counter()
        window.table.scrollToBottom()
        app.processEvents()  # the view asks canFetchMore/fetchMore when it reaches the end
        window.table.viewport().repaint()
        scroll_ms.append((time.perf_counter() - t1) * 1000)
    loaded = window.model.rowCount()

    t2 = time.perf_counter()
    window.status_box.setCurrentIndex(window.status_box.findData("interrupted"))
    app.processEvents()
    window.table.viewport().repaint()
    filter_ms = (time.perf_counter() - t2) * 1000

    t3 = time.perf_counter()
    while window.chart.loading and time.perf_counter() - t3 < 60:
        app.processEvents()
        time.sleep(0.005)
    chart_ms = (time.perf_counter() - t3) * 1000

    window.close()
    store.close()
    print(f"runs_in_store={total} rows_loaded_after_scrolling={loaded}")
    print(f"history_open_ms={open_ms:.1f} goal_ms=200 {'ok' if open_ms < 200 else 'MISS'}")
    print(
        f"scroll_to_end_ms_p50={statistics.median(scroll_ms):.1f} "
        f"scroll_to_end_ms_max={max(scroll_ms):.1f} goal_ms=200 "
        f"{'ok' if max(scroll_ms) < 200 else 'MISS'}"
    )
    print(f"filter_rare_status_ms={filter_ms:.1f}")
    print(f"chart_background_ms={chart_ms:.0f} (off the GUI thread)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
