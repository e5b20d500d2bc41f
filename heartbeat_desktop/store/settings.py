"""App-wide settings (Ollama host, default model, timeout): a small key/value table.

Secrets never go here: API keys live in the OS keyring.
"""

from __future__ import annotations

from .db import Database

KNOWN = {
    "ollama_host": "Ollama server URL (default: $OLLAMA_HOST or http://127.0.0.1:11434)",
    "default_model": "model used by threads that do not set one (default: llama3.2)",
    "llm_timeout": "seconds to wait for the model before a run fails (default: 120)",
    "context_tokens": "the model's context window prompts are built to fit, in tokens (default: 4096)",
    "hold_during_dnd": "hold notifications while Do Not Disturb is on, then show one summary (default: on)",
}

_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no")


def flag(value: str | None, default: bool) -> bool:
    """An on/off setting as stored (the CLI accepts on/off, true/false, yes/no, 1/0)."""
    if value is None:
        return default
    return value.strip().lower() in _ON if value.strip().lower() in _ON + _OFF else default


def check_flag(value: str) -> str:
    if value.strip().lower() not in _ON + _OFF:
        raise ValueError("must be on or off")
    return "on" if value.strip().lower() in _ON else "off"


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

    def all(self) -> dict[str, str]:
        return dict(self.db.read(lambda c: c.execute("SELECT key, value FROM settings ORDER BY key").fetchall()))
