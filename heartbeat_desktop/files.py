"""Safe file writes (Qt-free): a crash or a full disk never leaves a half-written HEARTBEAT.md."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

EDITABLE_MAX_BYTES = 1_000_000


def atomic_write(path: Path, text: str, *, backup: bool = True) -> None:
    """Write `text` to a temp file beside `path`, fsync it, keep the old file as `.bak`, then rename.

    If anything fails (disk full, permissions) the original file is untouched and the error propagates.

    Symlinks: a HEARTBEAT.md that is a link (kept in a dotfiles repository) is written *through*: the file it
    names is replaced and the link stays. Nothing else is followed: the `.bak` is written to a temp file and
    renamed over whatever is at `HEARTBEAT.md.bak`, so a link planted there cannot point the copy at another
    file. Only regular files are replaced. A link whose file is missing is refused: writing through it
    would create a file wherever it points, outside the folder the user chose.
    """
    path = Path(path)
    if path.is_symlink():
        if not path.exists():
            raise OSError(
                errno.ENOENT,
                f"{path} is a link to {os.readlink(path)}, which does not exist: nothing is written through it",
            )
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    tmp = _write_temp(path, text.encode("utf-8"))
    try:
        if path.exists():
            shutil.copymode(path, tmp)
            if backup:
                old = _write_temp(path, path.read_bytes())
                try:
                    shutil.copymode(path, old)
                    os.replace(old, path.with_name(path.name + ".bak"))
                except BaseException:
                    old.unlink(missing_ok=True)
                    raise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_temp(beside: Path, data: bytes) -> Path:
    """`data` in a new private temp file in `beside`'s directory, fsynced (never an existing file)."""
    fd, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".tmp", dir=beside.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


USER_FILE_MAX = 4 * 1024 * 1024  # a suite or a HEARTBEAT.md to try bigger than this is not one


class UnreadableFile(ValueError):
    """A file the user named cannot be used; the message says which and why (never a traceback)."""


def read_user_text(path: Path, what: str, limit: int = USER_FILE_MAX) -> str:
    """The UTF-8 text of a regular file the user named (a suite, an edited HEARTBEAT.md to try)."""
    try:
        if not path.is_file():
            raise UnreadableFile(f"{what} {path} is not a file" if path.exists() else f"{what} {path} does not exist")
        if path.stat().st_size > limit:
            raise UnreadableFile(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile(f"{what} {path} is not UTF-8 text") from None
    except PermissionError:
        raise UnreadableFile(f"{what} {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise UnreadableFile(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
