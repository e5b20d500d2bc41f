"""Where the app keeps its files, and the first-run copy of the default HEARTBEAT.md.

`HEARTBEAT_DATA_DIR` moves everything (database, HEARTBEAT.md, and — unless `HEARTBEAT_LOG_DIR` says
otherwise — the logs) so a second profile, a test or a portable install never touches the user's real data.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import platformdirs

APP_NAME = "heartbeat-desktop"
log = logging.getLogger(__name__)


def data_dir() -> Path:
    override = os.environ.get("HEARTBEAT_DATA_DIR")
    path = Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    override = os.environ.get("HEARTBEAT_LOG_DIR")
    if override:
        path = Path(override).expanduser()
    elif os.environ.get("HEARTBEAT_DATA_DIR"):
        path = data_dir() / "logs"
    else:
        path = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return data_dir() / "heartbeat.db"


def bundled(name: str) -> Path:
    """A file shipped with the app: inside the wheel (`_data/`) or at the source checkout's root."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"bundled file {name} is missing from this installation")


def ensure_heartbeat_md(workspace: Path) -> Path:
    """Copy the default HEARTBEAT.md into `workspace` if there is none yet. Never overwrites."""
    target = workspace / "HEARTBEAT.md"
    if not target.exists():
        try:
            shutil.copyfile(bundled("HEARTBEAT.md"), target)
            log.info("Created %s from the default template", target)
        except OSError as exc:
            log.warning("Could not create %s: %s", target, exc)
    return target
