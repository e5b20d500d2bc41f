"""Where the app keeps its files, and the first-run copy of the default HEARTBEAT.md.

`HEARTBEAT_DATA_DIR` moves everything (database, HEARTBEAT.md, and — unless `HEARTBEAT_LOG_DIR` says
otherwise — the logs) so a second profile, a test or a portable install never touches the user's real data.

Private by default: the threads, notes, feed and run history are the user's own, so the data and log
directories are 0700 and what the app writes there 0600 (the process umask is 077, set at start), and
files an earlier version left readable by others are tightened when the app opens them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import platformdirs

APP_NAME = "heartbeat-desktop"
log = logging.getLogger(__name__)


PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafeDirectory(OSError):
    """A data or log folder another local user controls: using it would let them plant the API token, the
    HEARTBEAT.md the agent follows, or read what it writes. The message says which and what to do."""


class NotAFolder(OSError):
    """The data or log folder's path names a file (or passes through one): one line that says so, not
    "[Errno 17] File exists" twice."""


def private_dir(path: Path, named_by: str = "") -> Path:
    """Create `path` (0700), or tighten it to 0700 if it is ours and others can read it. Refused: a folder
    owned by another user, and one of ours that others could write holding entries of another user.
    `named_by`: the variable the path came from, for the message when it is no folder."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        given = f" ({named_by})" if named_by else ""
        raise NotAFolder(
            f"{path}{given} is a file, not a folder: point {named_by or 'it'} at a folder, or move the file aside"
            if path.exists()
            else f"{path}{given} cannot be a folder: part of its path is a file"
        ) from None
    info = path.stat()
    if info.st_uid != os.getuid():
        raise UnsafeDirectory(
            f"the folder {path} belongs to another user (uid {info.st_uid}); Heartbeat Desktop will not use it. "
            "Move it aside, or point HEARTBEAT_DATA_DIR (or HEARTBEAT_LOG_DIR) at a folder of yours"
        )
    if info.st_mode & 0o022:  # others could write here: what they left is not the user's
        planted = sorted(entry.name for entry in path.iterdir() if entry.lstat().st_uid != os.getuid())
        if planted:
            raise UnsafeDirectory(
                f"the folder {path} could be written by other users and holds files that are not yours "
                f"({', '.join(planted[:5])}); Heartbeat Desktop will not use them. Remove them, then start again"
            )
    _tighten(path, DIR_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            path.chmod(mode)
    except OSError as exc:  # a read-only mount: reading still works, say why it stays as it is
        log.debug("Could not tighten the permissions of %s: %s", path, exc)


def secure_files(directory: Path, patterns: tuple[str, ...] = ("heartbeat.db*", "HEARTBEAT.md*", "*.log*")) -> None:
    """Make the app's files in `directory` 0600 (they were 0644 before 0.2)."""
    for pattern in patterns:
        for path in directory.glob(pattern):
            if path.is_file() and not path.is_symlink():  # a link's target is not ours to change
                _tighten(path, FILE_MODE)


def settle_data_dir_env() -> None:
    """A relative HEARTBEAT_DATA_DIR (or HEARTBEAT_LOG_DIR) made absolute against the directory it was given
    in, once, at start: the app `open` starts in the background, or at login, runs elsewhere and would
    otherwise use (and create) another folder of that name."""
    for name in ("HEARTBEAT_DATA_DIR", "HEARTBEAT_LOG_DIR"):
        given = os.environ.get(name)
        if given and not Path(given).expanduser().is_absolute():
            os.environ[name] = str(Path.cwd() / Path(given).expanduser())


def data_dir() -> Path:
    override = os.environ.get("HEARTBEAT_DATA_DIR")
    if override:
        return private_dir(Path(override).expanduser().absolute(), "HEARTBEAT_DATA_DIR")
    return private_dir(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def log_dir() -> Path:
    override = os.environ.get("HEARTBEAT_LOG_DIR")
    if override:
        path = private_dir(Path(override).expanduser().absolute(), "HEARTBEAT_LOG_DIR")
    elif os.environ.get("HEARTBEAT_DATA_DIR"):
        path = data_dir() / "logs"
    else:
        path = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    private_dir(path)
    secure_files(path)
    return path


DB_FILENAME = "heartbeat.db"


def db_file(directory: Path) -> Path:
    """The one SQLite file in a data directory (every opener goes through this name)."""
    return directory / DB_FILENAME


def bundled(name: str) -> Path:
    """A file shipped with the app: inside the wheel (`_data/`) or at the source checkout's root."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"bundled file {name} is missing from this installation")


def ensure_heartbeat_md(workspace: Path) -> Path:
    """Copy the default HEARTBEAT.md into `workspace` if there is none yet. Never overwrites, and never
    writes through a link: a dangling HEARTBEAT.md link had the template written where it pointed, outside
    the workspace (exists() is False for a link whose target is missing)."""
    target = workspace / "HEARTBEAT.md"
    if target.is_symlink() and not target.exists():
        log.warning("Not creating %s: it is a link to %s, which does not exist", target, os.readlink(target))
    elif not target.exists():
        try:
            shutil.copyfile(bundled("HEARTBEAT.md"), target)
            log.info("Created %s from the default template", target)
        except OSError as exc:
            log.warning("Could not create %s: %s", target, exc)
    return target
