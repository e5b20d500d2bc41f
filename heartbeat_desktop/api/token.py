"""The API's bearer token and on/off settings (Qt-free, shared by the app and the CLI)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.app_settings import AppSettings

TOKEN_FILE = "api-token"


def _write_private(path: Path, text: str) -> None:
    """Written beside, then renamed over: whatever was at `path` (another user's file, a link) is replaced,
    never written through."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(temporary, path)


def _trusted(path: Path) -> bool:
    """Only a token the user's own app wrote: a regular file of this user, with one name, that nobody else can
    read or write.
    Another one (planted by another local user in a shared folder, or loosened) is replaced."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    # One link only: a second name for the file (a hard link made while it was readable, or elsewhere) is a
    # way to read or swap the token that the folder's permissions do not cover.
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077 and info.st_nlink == 1


def token(data_dir: Path) -> str:
    """The token, created (random, 0600) on first use, and made again if the file is not one to trust."""
    path = data_dir / TOKEN_FILE
    if _trusted(path):
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    try:
        return regenerate(data_dir)
    except OSError as exc:
        raise OSError(f"no API token yet, and none can be made in {data_dir}: {exc.strerror or exc}") from None


def regenerate(data_dir: Path) -> str:
    value = secrets.token_urlsafe(32)
    _write_private(data_dir / TOKEN_FILE, value + "\n")
    return value


@dataclass(frozen=True)
class ApiSettings:
    enabled: bool
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def api_settings(get: Callable[[str], str | None]) -> ApiSettings:
    """From the settings table (`get(key)`): off unless turned on; port 8787 unless set."""
    stored = {key: value for key in ("api_enabled", "api_port") if (value := get(key)) is not None}
    settings, _warnings = AppSettings.load(stored)
    return ApiSettings(enabled=settings.api_enabled, port=settings.api_port)
