"""App-wide settings (Ollama host, default model, timeout): a small key/value table.

Secrets never go here: API keys live in the OS keyring.
"""

from __future__ import annotations

import logging

from ..core.app_settings import AppSettings
from .db import Database

KNOWN = AppSettings.cli_keys()  # what `heartbeat-desktop settings` lists and sets, with help text


log = logging.getLogger(__name__)

PAUSED_SETTING = "scheduler_paused"  # "1" while heartbeats are paused (the tray, the API or the env)


class SettingsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.read(lambda c: c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone())
        return row[0] if row else default

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.transaction(lambda c: c.execute("DELETE FROM settings WHERE key = ?", (key,)))
        else:
            self.db.transaction(
                lambda c: c.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            )

    def app(self) -> AppSettings:
        """The typed settings; a bad stored value is its default (and logged), never an error."""
        settings, warnings = AppSettings.load(self.all())
        for warning in warnings:
            log.warning("Setting %s", warning)
        return settings

    def all(self) -> dict[str, str]:
        return dict(self.db.read(lambda c: c.execute("SELECT key, value FROM settings ORDER BY key").fetchall()))
