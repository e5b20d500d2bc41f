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
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Protocol, TypeVar

from .core.json_keys import RepeatedKey, one_value_per_key
from .core.ports import SecretsUnavailable

__all__ = [
    "KEY_WRITE_S",
    "PLAINTEXT_FILE",
    "PLAINTEXT_HINT",
    "KeyCache",
    "KeyringTimeout",
    "PlaintextSecrets",
    "Secrets",
    "SecretsUnavailable",
    "StoredKeys",
    "bounded",
    "open_secrets",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

SERVICE = "heartbeat-desktop"
PLAINTEXT_FILE = "api-keys.PLAINTEXT.json"


class KeyringTimeout(SecretsUnavailable):
    """The keyring did not answer in time: locked, or showing the user a dialog (a new Secret Service
    asks for a password for its first keyring). The lookup goes on in the background."""


KEY_WRITE_S = 30.0  # `set-key`/`clear-key`: time for a person to answer an unlock dialog, not forever
PLAINTEXT_HINT = (
    "if no keyring can be unlocked here, store it in a plaintext file instead (readable by anyone who can "
    "read your files): heartbeat-desktop provider set-key NAME --store-plaintext-key-file"
)


def bounded(fn: Callable[[], _T], timeout_s: float, what: str) -> _T:
    """`fn()` on a daemon thread, waited for at most `timeout_s`: a Secret Service that shows an unlock
    dialog (or hangs after its Cancel) must not hang a command. Raises KeyringTimeout past the deadline; the
    call itself may still finish in the background (the process exits without waiting for it)."""
    future: Future[_T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="keyring-call", daemon=True).start()
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        raise KeyringTimeout(
            f"the OS keyring did not {what} within {timeout_s:g} s (it may be locked, or waiting for a password)"
        ) from None


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
        except Exception as exc:  # a dismissed unlock prompt lands here too
            raise SecretsUnavailable(
                f"the OS keyring did not take the key ({type(exc).__name__}: locked, or its unlock was cancelled)"
            ) from None

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

    def names(self) -> set[str]:
        """Which providers have a key in the file (reading it never touches the keyring)."""
        return set(self._load()) if self.path.exists() else set()

    def _load(self) -> dict[str, str]:
        """The file's keys. One that is not JSON, or not an object of texts, is reported with the way out (it
        is the user's own file: the app never guesses at it nor throws it away)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"), object_pairs_hook=one_value_per_key)
        except FileNotFoundError:
            return {}
        except RepeatedKey as exc:
            raise self._unusable(
                f"the provider {exc.key[:40]!r} is given twice: which key counts would be a guess"
            ) from None
        except (OSError, ValueError) as exc:
            raise self._unusable(f"{type(exc).__name__}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
            raise self._unusable("it must be a JSON object of provider names and non-empty key texts")
        self._tighten()
        return data

    def _tighten(self) -> None:
        """Others must not read the file: loosened (an editor, a copy), it is made private again, and said."""
        try:
            mode = self.path.stat().st_mode
            if mode & 0o077:
                os.chmod(self.path, 0o600)
                log.warning("%s could be read by others (mode %o); made private (0600)", self.path, mode & 0o777)
        except OSError as exc:
            log.warning("Could not check %s's permissions: %s", self.path, exc)

    def _unusable(self, why: str) -> SecretsUnavailable:
        return SecretsUnavailable(
            f"the key file {self.path} cannot be used ({why})",
            "fix or remove that file, then store the key again: "
            "heartbeat-desktop provider set-key NAME --store-plaintext-key-file",
        )

    def _save(self, data: dict[str, str]) -> None:
        """Written beside and renamed over: a link planted at the file's name is replaced, never written
        through (the key would land wherever it points)."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

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


class KeyCache:
    """Keyring lookups that can neither block a heartbeat nor outlast its timeout.

    A Secret Service can hold a lookup for as long as a dialog stays open (a fresh desktop asks for the
    first keyring's password; a locked one asks to unlock). Each lookup runs on its own daemon thread;
    the caller waits at most its own budget, and a lookup still pending is shared, not repeated (one
    dialog, not one per heartbeat). Found keys are kept for the process, tagged with the store's
    "key changed at" stamp so a key set or cleared elsewhere (the CLI while the app runs) is read again.
    """

    def __init__(self, opener: Callable[[], Secrets]) -> None:
        self._opener = opener
        self._lookups: dict[str, tuple[object, Future[str | None]]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, timeout_s: float, version: object = None) -> str | None:
        """The key (None: none stored). Raises KeyringTimeout past `timeout_s`, SecretsUnavailable else."""
        future = self._lookup(name, version)
        try:
            return future.result(timeout=max(0.0, timeout_s))
        except FutureTimeout:
            waited = round(timeout_s, 1)
            raise KeyringTimeout(
                f"the OS keyring did not answer within {waited:g} s (it may be locked, or waiting for a password)"
            ) from None

    def prefetch(self, versions: dict[str, object]) -> None:
        """Start lookups now (the app at start-up), so a run later finds the key waiting. `versions` maps
        each provider to the store's "key changed at" stamp, as a run will ask with it."""
        for name, version in versions.items():
            self._lookup(name, version)

    def _lookup(self, name: str, version: object) -> Future[str | None]:
        with self._lock:
            found = self._lookups.get(name)
            if found is not None:
                stamp, future = found
                failed = future.done() and future.exception() is not None
                if not failed and (stamp == version or version is None or not future.done()):
                    return future
            future = Future()
            self._lookups[name] = (version, future)
        threading.Thread(target=self._run, args=(name, future), name=f"keyring-{name}", daemon=True).start()
        return future

    def _run(self, name: str, future: Future[str | None]) -> None:
        try:
            future.set_result(self._opener().get(name))
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, SecretsUnavailable) else SecretsUnavailable(type(exc).__name__))


class StoredKeys:
    """A provider's key, asking the keyring only when the store says one was stored.

    This is what keeps a keyless setup (plain Ollama, a local OpenAI-compatible server) away from the
    keyring entirely: no lookup, no unlock dialog, no dependency on a Secret Service running at all.
    """

    def __init__(
        self,
        key_state: Callable[[str], tuple[bool | None, float | None]],
        cache: KeyCache,
        learned: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._key_state = key_state
        self._cache = cache
        self._learned = learned

    def expects_key(self, provider: str) -> bool | None:
        return self._key_state(provider)[0]

    def key(self, provider: str, timeout_s: float) -> str | None:
        """None when no key is stored. Raises SecretsUnavailable (or KeyringTimeout) when one is but cannot
        be read in time. A provider whose state is unknown is looked up once and its state recorded."""
        has_key, changed_at = self._key_state(provider)
        if has_key is False:
            return None
        try:
            key = self._cache.get(provider, timeout_s, version=changed_at)
        except KeyringTimeout:
            raise
        except SecretsUnavailable:
            if has_key is None:  # no keyring at all: no key can have been stored in it
                log.info("No keyring to check for a %s key; going on without one", provider)
                return None
            raise
        if has_key is None and self._learned is not None:
            self._learned(provider, key is not None)
        return key
