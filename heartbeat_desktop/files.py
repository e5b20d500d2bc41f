"""Safe file writes (Qt-free): a crash or a full disk never leaves a half-written HEARTBEAT.md."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

EDITABLE_MAX_BYTES = 1_000_000


def atomic_write(path: Path, text: str, *, backup: bool = True) -> None:
    """Write `text` to a temp file beside `path`, fsync it, keep the old file as `.bak`, then rename.

    If anything fails (disk full, permissions) the original file is untouched and the error propagates.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
            if backup:
                shutil.copy2(path, path.with_name(path.name + ".bak"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
