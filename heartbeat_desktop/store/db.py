"""One SQLite connection with the app's rules: WAL, foreign keys, migrations, and retry on "locked".

Several writers share the file (the tray's scheduler worker, the CLI, later the local API), so a write
can meet a lock. SQLite's own busy handler waits a little; past that, `transaction()` retries the whole
unit of work with bounded exponential backoff. Write transactions start with ``BEGIN IMMEDIATE`` so a
lock is met at the start, where a retry is safe, never halfway through.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..core.ports import StoreError
from ..instance_lock import holder
from .migrations import LATEST, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_S = 0.25
RETRY_BUDGET_S = 15.0
RETRY_FIRST_DELAY_S = 0.02
RETRY_MAX_DELAY_S = 1.0


_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock: worth a retry. Decided by SQLite's result code, not its message
    text (which a future SQLite may word differently). The code is the extended one (SQLITE_BUSY_SNAPSHOT,
    SQLITE_LOCKED_SHAREDCACHE…): its low byte is the primary code. An error raised by the sqlite3 module
    itself rather than by SQLite carries no code, and is not a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES


UPGRADE_WAIT_S = 5.0
"""How long a command waits for a running app's own schema upgrade to finish before calling it older."""


class Database:
    def __init__(self, path: Path | str, *, retry_budget_s: float = RETRY_BUDGET_S, read_only: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self.retry_budget_s = retry_budget_s
        self.read_only = read_only
        if read_only:
            self.conn = self._open_read_only()
            return
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        try:
            self._retry(self._setup)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    def _open_read_only(self) -> sqlite3.Connection:
        """For reading a database in a directory this process cannot write (a read-only mount, a backup
        copy): no WAL switch, no migration, no recovery. SQLite must create the WAL index beside the file
        to read a WAL database; where it cannot, nobody can be writing it either, so it is read as an
        immutable file."""
        assert isinstance(self.path, Path)
        if not self.path.is_file():
            raise StoreError(f"cannot open database {self.path}: it does not exist (and cannot be created here)")
        uri = self.path.resolve().as_uri()
        last: Exception | None = None
        for mode in ("mode=ro", "mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None, check_same_thread=True)
                conn.row_factory = sqlite3.Row
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error as exc:
                last = exc
                continue
            if version != LATEST:
                conn.close()
                raise StoreError(
                    f"the database {self.path} has schema version {version}, this app {LATEST}: run any command "
                    "where the data directory is writable to upgrade it"
                )
            return conn
        raise StoreError(f"cannot open database {self.path} for reading: {last}")

    def _setup(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = ON")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and self.path != ":memory:":
            log.warning("Database is not in WAL mode (%s); concurrent readers may wait", mode)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self._refuse_upgrade_under_a_running_app()
        migrate(self.conn)

    def _refuse_upgrade_under_a_running_app(self) -> None:
        """A newer install's command line must not upgrade the schema under an older app that runs on this
        data directory: from then on every heartbeat of that app fails ("schema version N is newer than this
        app understands"). Measured: a `status` from the new version did exactly that to a running app. The
        app itself upgrades at its start (it holds the lock then, and the check passes)."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if not 0 < version < LATEST or not isinstance(self.path, Path):
            return
        running = holder(self.path.parent)
        if running is None or running.get("pid") == os.getpid():
            return
        # An app of this same version that has just taken the lock may be upgrading the schema right now (each
        # step commits, so an older number shows meanwhile): CI saw `status` refuse an app mid-upgrade as
        # "older". Such an app reaches LATEST within moments; an older one never does.
        deadline = time.monotonic() + UPGRADE_WAIT_S
        while version < LATEST and time.monotonic() < deadline:
            time.sleep(0.05)
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version < LATEST:
            raise sqlite3.DatabaseError(
                f"Heartbeat Desktop (pid {running.get('pid')}) is running an older version on this data; this "
                f"version would upgrade its database (schema {version} to {LATEST}) under it. Quit it "
                "(heartbeat-desktop quit) and run this again, or start the new version"
            )

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ retry machinery
    def _retry(self, fn: Callable[[], T]) -> T:
        delay = RETRY_FIRST_DELAY_S
        deadline = time.monotonic() + self.retry_budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
                log.debug("Database busy (attempt %d): %s; retrying in %.0f ms", attempt, exc, delay * 1000)
                time.sleep(delay * (0.5 + random.random()))  # jitter: two waiting writers must not collide again
                delay = min(delay * 2, RETRY_MAX_DELAY_S)

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction, retried as a whole while the database is locked."""

        def attempt() -> T:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

        try:
            return self._retry(attempt)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise StoreError(
                    f"database is locked by another program (gave up after {self.retry_budget_s:.0f} s)"
                ) from exc
            raise StoreError(f"database error: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database error: {exc}") from exc

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read; WAL readers rarely wait, but a checkpoint or a schema change can still lock."""
        try:
            return self._retry(lambda: fn(self.conn))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database error: {exc}") from exc
