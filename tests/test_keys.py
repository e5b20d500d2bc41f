"""Keys only where needed: keyless providers never reach the keyring; a slow keyring never outlasts a run.

The keyring here is a stand-in `Secrets` that can block (as a Secret Service does while its dialog is
open); tests/test_secrets.py runs the same paths against a real GNOME Keyring and its real dialog.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from heartbeat_desktop import wiring
from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.secrets import KeyCache, KeyringTimeout, SecretsUnavailable, StoredKeys
from heartbeat_desktop.store import SqliteStore
from tests.support.citing import Act
from tests.support.keys import sends_key
from tests.support.ollama_server import OllamaServer

POST = json.dumps({"action": "post", "rule": 1, "title": "t", "content": "c", "reason": "r"})


class SlowKeyring:
    """A keyring that answers only when `release` is set; counts how often it was opened."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.release = threading.Event()
        self.opened = 0
        self.description = "a test keyring"

    def __call__(self) -> SlowKeyring:
        self.opened += 1
        return self

    def get(self, name: str) -> str | None:
        self.release.wait(30)
        return self.keys.get(name)


def test_a_pending_lookup_is_bounded_shared_and_then_cached() -> None:
    keyring = SlowKeyring({"openai": "sk-1"})
    cache = KeyCache(keyring)
    t0 = time.monotonic()
    with pytest.raises(KeyringTimeout, match=r"did not answer within 0\.3 s"):
        cache.get("openai", 0.3)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(KeyringTimeout):
        cache.get("openai", 0.1)
    assert keyring.opened == 1  # one dialog, not one per caller
    keyring.release.set()
    assert cache.get("openai", 5) == "sk-1"
    assert cache.get("openai", 0) == "sk-1" and keyring.opened == 1  # cached
    assert cache.get("openai", 5, version=2.0) == "sk-1" and keyring.opened == 2  # changed elsewhere: read again


def test_a_prefetched_key_is_waiting_for_the_run() -> None:
    keyring = SlowKeyring({"openai": "sk-1"})
    keyring.release.set()
    cache = KeyCache(keyring)
    cache.prefetch({"openai": 5.0})
    assert cache.get("openai", 5, version=5.0) == "sk-1" and keyring.opened == 1


def test_a_failed_lookup_is_retried_next_time() -> None:
    answers = iter([SecretsUnavailable("locked"), None])

    class Flaky:
        def get(self, name: str) -> str | None:
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

    cache = KeyCache(Flaky)
    with pytest.raises(SecretsUnavailable, match="locked"):
        cache.get("x", 2)
    assert cache.get("x", 2) is None


def test_stored_keys_ask_the_keyring_only_when_a_key_was_stored(store: SqliteStore) -> None:
    keyring = SlowKeyring({"gpubox": "k"})
    keyring.release.set()
    learned: list[tuple[str, bool]] = []
    keys = StoredKeys(store.providers.key_state, KeyCache(keyring), lambda n, has: learned.append((n, has)))
    assert keys.key("ollama", 1) is None and keyring.opened == 0  # never stored: never asked
    store.providers.set_key_state("gpubox", True)
    assert keys.key("gpubox", 1) == "k" and keyring.opened == 1
    store.providers.set_key_state("gpubox", False)
    assert keys.key("gpubox", 1) is None and keyring.opened == 1
    # A database from before the app kept track: state unknown, looked up once and recorded.
    store.db.transaction(lambda c: c.execute("UPDATE provider_state SET has_key = NULL WHERE name = 'gpubox'"))
    assert store.providers.key_state("gpubox")[0] is None
    assert keys.key("gpubox", 1) == "k" and learned == [("gpubox", True)]


def test_upgrading_a_used_database_marks_keys_unknown_and_a_new_one_keyless(tmp_path: Path) -> None:
    """Migration 6: an existing install may have keys in the keyring (look once); a new one has none."""
    import sqlite3

    from heartbeat_desktop.store.migrations import MIGRATIONS, migrate

    old = sqlite3.connect(tmp_path / "old.db")
    old.row_factory = sqlite3.Row
    for number, script in enumerate(MIGRATIONS[:5], start=1):
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute("INSERT INTO providers (name, kind, base_url, created_at) VALUES ('gpubox', 'ollama', 'http://x', 0)")
    old.commit()
    migrate(old)
    unknown = {r["name"] for r in old.execute("SELECT name FROM provider_state WHERE has_key IS NULL")}
    assert unknown == {"ollama", "openai", "anthropic", "gpubox"}
    old.close()
    fresh = SqliteStore(tmp_path / "new.db")
    assert fresh.providers.key_state("ollama") == (False, None)
    fresh.close()


def test_a_hanging_keyring_fails_the_run_within_its_timeout_and_nothing_is_written_later(
    store: SqliteStore, data_dir: Path, ollama: OllamaServer
) -> None:
    """The issue's fresh desktop: a keyring dialog nobody answers. The run ends at its own timeout with a
    reason that says what to do; when the dialog is finally answered, nothing is posted behind the user's back."""
    store.settings.set("ollama_host", ollama.url)
    store.settings.set("llm_timeout", "2")
    store.providers.set_key_state("ollama", True)  # an Ollama behind a proxy that wants a key
    keyring = SlowKeyring({"ollama": "k"})
    ollama.script(Act(POST))
    t0 = time.monotonic()
    run = wiring.make_runner(store, data_dir, keys=KeyCache(keyring)).run("default")
    elapsed = time.monotonic() - t0
    assert run.status == "failed" and elapsed < 3.0
    assert "the API key for ollama could not be read: the OS keyring did not answer within 2 s" in run.reason
    assert "unlock your keyring" in run.reason
    keyring.release.set()  # the user answers the dialog minutes later
    time.sleep(0.3)
    assert ollama.chat_requests() == [] and store.feed.counts()["posts"] == 0
    assert [r.status for _rowid, r in store.runs.page(limit=10)] == ["failed"]


def test_plain_ollama_never_touches_the_keyring(store: SqliteStore, data_dir: Path, ollama: OllamaServer) -> None:
    store.settings.set("ollama_host", ollama.url)
    keyring = SlowKeyring({})
    ollama.script(Act(POST))
    run = wiring.make_runner(store, data_dir, keys=KeyCache(keyring)).run("default")
    assert run.status == "ok", run.reason
    assert keyring.opened == 0 and not sends_key(ollama.chat_requests()[0].headers)


def test_a_hosted_service_without_a_key_fails_at_once(store: SqliteStore, data_dir: Path) -> None:
    keyring = SlowKeyring({})
    store.threads.set_config("default", HeartbeatConfig(model="openai:gpt-4o-mini"))
    t0 = time.monotonic()
    run = wiring.make_runner(store, data_dir, keys=KeyCache(keyring)).run("default")
    assert run.status == "failed" and "no API key set for openai" in run.reason
    assert "provider set-key openai" in run.reason and keyring.opened == 0 and time.monotonic() - t0 < 1


def test_a_server_echoing_the_key_gets_it_scrubbed_everywhere(tmp_path: Path) -> None:
    """A provider that repeats the key it received in its 401/500 bodies and in its answers: the key must
    not reach the run's reason, the stored reply, the log, the CLI's output or `history --json`."""
    import os
    import subprocess
    import sys

    from tests.conftest import GOOD_MD, REPO
    from tests.support.provider_servers import Answer, ProviderServer, Status

    key = "sk-ECHO-9a8b7c6d5e4f3a2b1c0d"
    data = tmp_path / "data"
    data.mkdir()
    (data / "HEARTBEAT.md").write_text(GOOD_MD)
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data), "LOG_LEVEL": "DEBUG"}
    env.update(
        {
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
    )
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", *args],
            input=stdin, capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
        outputs.extend([result.stdout, result.stderr])
        return result

    server = ProviderServer("openai", key=key)
    server.echo_credentials = True
    try:
        assert cli("provider", "add", "echo", "--kind", "openai", "--url", server.base_url).returncode == 0
        assert cli("provider", "set-key", "echo", "--store-plaintext-key-file", stdin=key + "\n").returncode == 0
        assert cli("config", "set", "model", "echo:gpt-4o-mini").returncode == 0
        server.script(
            Status(500, "internal error"),
            Answer(json.dumps({"action": "post", "rule": 1, "title": "t", "content": "c", "reason": "r"})),
        )
        failed = json.loads(cli("run-now", "--json").stdout)
        assert failed["status"] == "failed" and "[redacted]" in failed["reason"]
        assert json.loads(cli("run-now", "--json").stdout)["status"] == "ok"
        server.key = "another-key"  # now every request is refused with a 401 that repeats our key
        refused = json.loads(cli("run-now", "--json").stdout)
        assert refused["status"] == "failed" and "HTTP 401" in refused["reason"]
        cli("provider", "test", "echo")
        cli("history", "--json")
        cli("history")
    finally:
        server.stop()
    assert any(key in (r["headers"].get("Authorization") or "") for r in server.requests)  # it was sent
    files = [p for p in data.rglob("*") if p.is_file() and p.name != "api-keys.PLAINTEXT.json"]
    hits = [str(p) for p in files if key.encode() in p.read_bytes()]
    hits += [f"output {i}" for i, text in enumerate(outputs) if key in text]
    assert hits == []


@pytest.mark.parametrize(
    "echo",
    [
        lambda k: k[:-3],
        lambda k: k.upper(),
        lambda k: f"your key {k[:20]}… was fine",
        lambda k: k,
        lambda k: k[3:],  # without its prefix (found by the re-check)
        lambda k: k[-20:],
        lambda k: k[10:30],
    ],
)
def test_most_of_the_key_in_a_models_reply_is_scrubbed(echo) -> None:
    """Found by the adversarial pass: a 200 reply echoing the key minus its last characters, or upper-cased,
    reached the database, the log and the output."""
    from heartbeat_desktop.llm.server_text import REDACTED, echoes, scrub

    key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    text = f"decision: {echo(key)} end"
    assert echoes(text, key)
    cleaned = scrub(text, [key])
    assert REDACTED in cleaned and cleaned.endswith(" end")
    assert not any(key[i : i + 10].lower() in cleaned.lower() for i in range(len(key) - 9))
    assert scrub("an ordinary reply", [key]) == "an ordinary reply" and not echoes("an ordinary reply", key)


def test_the_key_in_full_width_letters_is_scrubbed_too() -> None:
    """The second README-only attack (#25): the key written in full-width letters (ｓｋ-ｔｅｓｔ-…) reached the
    feed; under NFKC, which the app uses to compare posts, it reads as the key."""
    from heartbeat_desktop.llm.server_text import REDACTED, without_key

    key = "sk-test-ABCDEFGHIJKLMNOPQRSTUVWX1234"
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key)
    cleaned = without_key(f"post: {wide} and more", key)
    assert REDACTED in cleaned and "ＡＢＣＤ" not in cleaned and "ABCD" not in cleaned
    assert without_key("ｆｕｌｌ-width text, no key", key) == "ｆｕｌｌ-width text, no key"  # left as it came
