"""Model providers: a name, a protocol and a base URL. Keys are not here: see `secrets.py`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..core.ports import StoreError
from .db import Database

KINDS = ("ollama", "openai", "anthropic")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# Usable by name without adding them first ("openai:gpt-4o-mini" once a key is set).
BUILTIN = {
    "openai": ("openai", "https://api.openai.com/v1"),
    "anthropic": ("anthropic", "https://api.anthropic.com"),
}


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str
    base_url: str
    builtin: bool = False


class ProviderRepo:
    def __init__(self, db: Database, clock=time.time) -> None:
        self.db = db
        self.clock = clock

    def list(self) -> list[Provider]:
        rows = self.db.read(lambda c: c.execute("SELECT name, kind, base_url FROM providers ORDER BY name").fetchall())
        stored = {r["name"]: Provider(r["name"], r["kind"], r["base_url"]) for r in rows}
        for name, (kind, url) in BUILTIN.items():
            stored.setdefault(name, Provider(name, kind, url, builtin=True))
        return sorted(stored.values(), key=lambda p: p.name)

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.list() if p.name == name), None)

    def save(self, name: str, kind: str, base_url: str) -> Provider:
        if not _NAME.match(name) or name == "ollama":
            raise StoreError(f"invalid provider name {name!r}: 1–40 lowercase letters, digits, - or _ (not 'ollama')")
        if kind not in KINDS:
            raise StoreError(f"provider kind must be one of {', '.join(KINDS)}")
        if not re.match(r"^https?://[^\s/$.?#].\S*$", base_url):
            raise StoreError(f"base URL must start with http:// or https://, not {base_url!r}")
        now = self.clock()
        self.db.transaction(
            lambda c: c.execute(
                "INSERT INTO providers (name, kind, base_url, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url",
                (name, kind, base_url.rstrip("/"), now),
            )
        )
        return Provider(name, kind, base_url.rstrip("/"))

    def remove(self, name: str) -> None:
        if self.db.read(lambda c: c.execute("SELECT 1 FROM providers WHERE name = ?", (name,)).fetchone()) is None:
            raise StoreError(f"no provider {name!r} to remove" + (" (built-in)" if name in BUILTIN else ""))
        self.db.transaction(lambda c: c.execute("DELETE FROM providers WHERE name = ?", (name,)))
