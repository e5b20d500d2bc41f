"""The API's bearer token and on/off settings (Qt-free, shared by the app and the CLI)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.app_settings import AppSettings

TOKEN_FILE = "api-token"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def token(data_dir: Path) -> str:
    """The token, created (random, 0600) on first use."""
    path = data_dir / TOKEN_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
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
