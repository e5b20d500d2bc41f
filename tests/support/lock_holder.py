"""Another process that holds a data directory's instance lock, as a running app would (and dies as one
can: `kill()` with no clean-up, after which the kernel releases the lock)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
_SCRIPT = (
    "import sys, time; from pathlib import Path; from heartbeat_desktop.instance_lock import InstanceLock\n"
    "lock = InstanceLock(Path(sys.argv[1])); assert lock.acquire(sys.argv[2]); print('held', flush=True)\n"
    "time.sleep(60)\n"
)


@contextmanager
def lock_held_elsewhere(data_dir: Path, socket_name: str = "/x/y.sock") -> Iterator[subprocess.Popen[str]]:
    """Yields the holder once it holds the lock; kills it on the way out."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(data_dir), socket_name], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait()
