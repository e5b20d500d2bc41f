"""One app per data directory: an advisory lock on `<data_dir>/app.lock` is the authority.

The instance socket alone could not be: it lives in `$XDG_RUNTIME_DIR` (absent under cron, ssh or sudo, and
then a different directory is chosen) and its folder can be removed under a running app (tmp cleaners,
logout), after which a second launch found nobody and started a second app on the same data. A lock held on
a file in the data directory is the same for every launch however it is started, and the kernel releases it
when the process dies, so a crash never leaves a stale lock. The holder writes where its socket is into the
file, so a CLI without `XDG_RUNTIME_DIR` still finds the running app.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path

LOCK_NAME = "app.lock"


class LockUnusable(OSError):
    """The lock file cannot be opened or locked (a directory or a link in its place): not another app."""


class InstanceLock:
    """Held for the life of the app; `acquire` never blocks."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, socket_name: str) -> bool:
        """Take the lock and record `socket_name` in it; False when another process holds it. Raises
        LockUnusable, saying so, when the lock file itself is unusable."""
        if self._fd is not None:
            return True
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)  # O_CLOEXEC: a model server we start must not inherit it
        except OSError as exc:
            raise LockUnusable(f"cannot take the lock {self.path}: {exc.strerror or exc}") from exc
        if not _try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        record = json.dumps({"pid": os.getpid(), "socket": socket_name}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
        except OSError as exc:
            self.release()
            raise LockUnusable(f"cannot take the lock {self.path}: {exc.strerror or exc}") from exc
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # a later reader must not trust a socket nobody listens on
        os.close(self._fd)  # closing drops the lock
        self._fd = None


def holder(data_dir: Path) -> dict[str, object] | None:
    """What the running app recorded (`pid`, `socket`), or None when no process holds the lock. Only a file
    of this user that nobody else can write is believed: another local user must not steer our CLI."""
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if sys.platform != "win32" and (info.st_uid != os.getuid() or info.st_mode & 0o022):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        if _try_lock(fd, shared=True):  # nobody holds it: no app runs
            _unlock(fd)
            return None
        try:
            record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}
    finally:
        os.close(fd)


def _try_lock(fd: int, shared: bool = False) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
