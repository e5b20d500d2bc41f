"""Runs heartbeats in a loop until killed; prints each committed run id (the parent SIGKILLs it)."""

import sys
from pathlib import Path

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.llm import OllamaClient
from heartbeat_desktop.store import SqliteStore


def main(data_dir: str, url: str, thread_id: str) -> int:
    data = Path(data_dir)
    store = SqliteStore(data / "heartbeat.db")
    if store.threads.get(thread_id) is None:  # a thread per round: the daily post cap never interferes
        store.threads.create(thread_id)
    store.threads.set_config(thread_id, HeartbeatConfig(max_posts_per_day=200))
    runner = HeartbeatRunner(store, OllamaClient(url), default_workspace=data, llm_timeout_s=10)
    print("ready", flush=True)
    while True:
        run = runner.run(thread_id)
        print(f"committed {run.id} {run.status}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
