"""API keys live in the OS keyring (`keyring`, service "heartbeat-desktop") and nowhere else.

Never in the database, the config, the logs, run records, exceptions or CLI output: callers get the key
only to put it in a request header. When no keyring backend works (a headless Linux box without a Secret
Service), `SecretsUnavailable` says so and what to do; a plaintext file is used only when the user opted
in explicitly (`--store-plaintext-key-file`), is created 0600 in the data dir, and is named for what it is.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

SERVICE = "heartbeat-desktop"
PLAINTEXT_FILE = "api-keys.PLAINTEXT.json"


class SecretsUnavailable(RuntimeError):
    """No usable keyring (and no consent to a plaintext file); the message says what to do."""


class Secrets(Protocol):
    description: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


def _account(provider: str) -> str:
    return f"provider:{provider}"


class KeyringSecrets:
    def __init__(self) -> None:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        names = [type(backend).__name__]
        children = getattr(backend, "backends", None)
        if children is not None:  # the chainer: usable only if one of its backends is
            children = [b for b in children if not isinstance(b, fail.Keyring)]
            names = [type(b).__module__ for b in children]
            if not children:
                raise SecretsUnavailable(self._why())
        elif isinstance(backend, fail.Keyring) or "null" in type(backend).__module__:
            raise SecretsUnavailable(self._why())
        self._keyring = keyring
        self.description = f"the OS keyring ({', '.join(names)})"

    @staticmethod
    def _why() -> str:
        return (
            "no OS keyring is available (on Linux: a Secret Service such as GNOME Keyring or KWallet must be "
            "running and unlocked). Start one, or store the key in a plaintext file with "
            "--store-plaintext-key-file (readable by anyone who can read your files)."
        )

    def get(self, name: str) -> str | None:
        try:
            return self._keyring.get_password(SERVICE, _account(name))
        except Exception as exc:  # a locked or crashed keyring: never include the key, say what failed
            raise SecretsUnavailable(f"the OS keyring could not be read ({type(exc).__name__})") from None

    def set(self, name: str, value: str) -> None:
        try:
            self._keyring.set_password(SERVICE, _account(name), value)
        except Exception as exc:
            raise SecretsUnavailable(f"the OS keyring refused the key ({type(exc).__name__})") from None

    def delete(self, name: str) -> None:
        try:
            self._keyring.delete_password(SERVICE, _account(name))
        except Exception:
            log.debug("No key to delete for provider %s", name)


class PlaintextSecrets:
    """Opt-in only. The file name says PLAINTEXT so nobody mistakes it for something safe."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PLAINTEXT_FILE
        self.description = f"a PLAINTEXT file ({self.path})"

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretsUnavailable(f"cannot read {self.path}: {type(exc).__name__}") from None

    def _save(self, data: dict[str, str]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(self.path, 0o600)

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def set(self, name: str, value: str) -> None:
        data = self._load()
        data[name] = value
        self._save(data)

    def delete(self, name: str) -> None:
        data = self._load()
        if data.pop(name, None) is not None:
            self._save(data)


def open_secrets(data_dir: Path, *, allow_plaintext: bool = False) -> Secrets:
    """The keyring; or, only if allowed (or a plaintext file already exists), the plaintext file."""
    try:
        return KeyringSecrets()
    except SecretsUnavailable:
        plaintext = PlaintextSecrets(data_dir)
        if allow_plaintext or plaintext.path.exists():
            return plaintext
        raise
