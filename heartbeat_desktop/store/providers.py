"""Model providers: a name, a protocol and a base URL. Keys are not here: see `secrets.py`."""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable

from ..core.ports import StoreError
from ..core.providers import BUILTIN, KINDS, Provider
from .db import Database

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
REMOVED_SETTING = "removed_providers"  # names removed once, comma-separated: a model still naming one fails clearly
_UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")  # controls, format, line/paragraph separators, …


class ProviderRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
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
        if name == "ollama" or name in BUILTIN:
            # Redefining a built-in would silently send its stored key (an OpenAI key) to another server.
            raise StoreError(f"{name!r} is built in; add your server under a name of its own (e.g. {name}-local)")
        if not _NAME.match(name):
            raise StoreError(f"invalid provider name {name!r}: 1–40 lowercase letters, digits, - or _")
        if kind not in KINDS:
            raise StoreError(f"provider kind must be one of {', '.join(KINDS)}")
        unprintable = next((ch for ch in base_url if unicodedata.category(ch) in _UNPRINTABLE), None)
        if unprintable is not None:
            # An ESC or a bidi override would be stored and then shown (escaped, but never what was meant).
            raise StoreError(f"the URL contains an invisible or control character (U+{ord(unprintable):04X})")
        scheme, sep, rest = base_url.partition("://")
        if sep and scheme.lower() in ("http", "https"):
            base_url = scheme.lower() + sep + rest  # "HTTP://box" is the same address
        if re.search(r"[?#]", base_url):
            raise StoreError(f"the base URL takes no query or fragment (the app adds the paths): {base_url!r}")
        port = re.match(r"^https?://[^/]*:(\d+)(?:/|$)", base_url)
        if port is not None and not 1 <= int(port.group(1)) <= 65535:
            raise StoreError(f"the port must be 1–65535, not {port.group(1)}")
        if not re.match(r"^https?://[^\s/$.?#].\S*$", base_url):
            raise StoreError(f"base URL must start with http:// or https://, not {base_url!r}")
        endpoint = re.search(r"/(chat/completions|completions|messages|models|embeddings)/?$", base_url)
        if endpoint is not None:
            # The app adds the endpoint itself: /v1/chat/completions/chat/completions answered 404, read as
            # "no such model".
            raise StoreError(
                f"{base_url!r} is an endpoint of the server, not its base URL: use {base_url[: endpoint.start()]}"
            )
        if "@" in base_url.split("://", 1)[1].split("/", 1)[0]:
            # Credentials in a URL end up in the database and in listings: keys belong in the keyring.
            raise StoreError("put no user name or password in the URL; set a key: heartbeat-desktop provider set-key")
        now = self.clock()

        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO providers (name, kind, base_url, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url",
                (name, kind, base_url.rstrip("/"), now),
            )
            _set_removed(c, _removed(c) - {name})

        self.db.transaction(work)
        return Provider(name, kind, base_url.rstrip("/"))

    def remove(self, name: str) -> None:
        if self.db.read(lambda c: c.execute("SELECT 1 FROM providers WHERE name = ?", (name,)).fetchone()) is None:
            if name == "ollama" or name in BUILTIN:
                raise StoreError(f"{name!r} is built in and cannot be removed")
            raise StoreError(f"no provider {name!r} to remove")

        def work(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM providers WHERE name = ?", (name,))
            c.execute("DELETE FROM provider_state WHERE name = ?", (name,))
            _set_removed(c, _removed(c) | {name})

        self.db.transaction(work)

    def removed(self) -> set[str]:
        """Providers removed (and not added again): a model naming one is not an Ollama tag (core/providers.py
        gone_provider)."""
        return self.db.read(_removed)

    # ------------------------------------------------------------------ what is known without asking
    def key_state(self, name: str) -> tuple[bool | None, float | None]:
        """(has a key?, when that last changed). False when nothing was ever stored; None: unknown (a
        database from before the app kept track), so the keyring must be asked once."""
        row = self.db.read(
            lambda c: c.execute("SELECT has_key, key_changed_at FROM provider_state WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            return False, None
        return (None if row["has_key"] is None else bool(row["has_key"])), row["key_changed_at"]

    def set_key_state(self, name: str, has_key: bool) -> None:
        now = self.clock()
        self.db.transaction(
            lambda c: c.execute(
                "INSERT INTO provider_state (name, has_key, key_changed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET has_key = excluded.has_key, key_changed_at = excluded.key_changed_at",
                (name, int(has_key), now),
            )
        )

    def recall_format(self, name: str, base_url: str, max_age_s: float) -> str | None:
        row = self.db.read(
            lambda c: c.execute(
                "SELECT output_format, format_learned_at FROM provider_state WHERE name = ? AND format_url = ?",
                (name, base_url),
            ).fetchone()
        )
        if row is None or row["output_format"] is None or self.clock() - (row["format_learned_at"] or 0) > max_age_s:
            return None
        return str(row["output_format"])

    def recall_window(self, name: str, base_url: str, model: str, max_age_s: float) -> int | None:
        row = self.db.read(
            lambda c: c.execute(
                "SELECT tokens, learned_at FROM model_windows WHERE provider = ? AND base_url = ? AND model = ?",
                (name, base_url, model),
            ).fetchone()
        )
        if row is None or self.clock() - row["learned_at"] > max_age_s:
            return None
        return int(row["tokens"])

    def learn_window(self, name: str, base_url: str, model: str, tokens: int) -> None:
        now = self.clock()
        self.db.transaction(
            lambda c: c.execute(
                "INSERT INTO model_windows (provider, base_url, model, tokens, learned_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, base_url, model) DO UPDATE SET tokens = excluded.tokens, "
                "learned_at = excluded.learned_at",
                (name, base_url, model, tokens, now),
            )
        )

    def learn_format(self, name: str, base_url: str, fmt: str) -> None:
        now = self.clock()
        self.db.transaction(
            lambda c: c.execute(
                # A new row keeps "no key" (what no row meant); an existing row keeps its key state.
                "INSERT INTO provider_state (name, has_key, format_url, output_format, format_learned_at) "
                "VALUES (?, 0, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET format_url = excluded.format_url, "
                "output_format = excluded.output_format, format_learned_at = excluded.format_learned_at",
                (name, base_url, fmt, now),
            )
        )


def _removed(c: sqlite3.Connection) -> set[str]:
    row = c.execute("SELECT value FROM settings WHERE key = ?", (REMOVED_SETTING,)).fetchone()
    return {name for name in (row[0] if row else "").split(",") if name}


def _set_removed(c: sqlite3.Connection, names: set[str]) -> None:
    if names:
        c.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (REMOVED_SETTING, ",".join(sorted(names))),
        )
    else:
        c.execute("DELETE FROM settings WHERE key = ?", (REMOVED_SETTING,))
