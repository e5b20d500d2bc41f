"""The CLI as a user runs it: a real process, a real data dir, a real loopback Ollama-protocol server."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat_desktop import __version__
from heartbeat_desktop.store import SqliteStore
from tests.conftest import GOOD_MD, REPO
from tests.support.citing import Act
from tests.support.ollama_server import Error, Garbage, OllamaServer, Reply

POST = json.dumps(
    {"action": "post", "rule": 1, "title": "Standup notes", "content": "Three things happened.", "reason": "daily"}
)


def cli(
    data_dir: Path, *args: str, host: str = "http://127.0.0.1:9", env: dict | None = None
) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    environ.update({"HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": host, **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=60,
    )


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "heartbeat.db")


def test_version(data_dir: Path) -> None:
    result = cli(data_dir, "--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_first_start_creates_db_default_thread_and_heartbeat_md(data_dir: Path) -> None:
    result = cli(data_dir, "threads", "list")
    assert result.returncode == 0 and result.stdout.startswith("default")
    assert (data_dir / "HEARTBEAT.md").read_text() == (REPO / "HEARTBEAT.md").read_text()
    log = next((data_dir / "logs").glob("*.log")).read_text()
    assert log and all(line.startswith("[HEARTBEAT]") for line in log.splitlines())


def test_run_now_json_writes_exactly_one_post_and_one_ok_run(data_dir: Path, ollama: OllamaServer) -> None:
    ollama.script(Act(POST))
    result = cli(data_dir, "run-now", "--json", host=ollama.url)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {
        "run_id",
        "thread_id",
        "status",
        "shown_status",
        "dry_run",
        "action",
        "reason",
        "why",
        "error_kind",
        "llm_ms",
        "total_ms",
    }
    assert out["status"] == "ok" and out["action"]["title"] == "Standup notes" and out["dry_run"] is False
    with _db(data_dir) as db:
        assert db.execute("SELECT COUNT(*), MIN(run_id) FROM posts").fetchone() == (1, out["run_id"])
        assert db.execute("SELECT status FROM runs").fetchall() == [("ok",)]
    feed = json.loads(cli(data_dir, "feed", "--json").stdout)
    assert feed[0]["title"] == "Standup notes" and feed[0]["score"] == 0 and feed[0]["comments"] == []
    assert {"id", "title", "content", "score", "thread_id", "run_id", "comments"} <= set(feed[0])
    history = json.loads(cli(data_dir, "history", "--json").stdout)
    assert {
        "id",
        "thread_id",
        "status",
        "reason",
        "dry_run",
        "prompt",
        "raw_reply",
        "decision",
        "llm_ms",
        "total_ms",
        "started_at",
    } <= set(history[0])
    assert json.loads(history[0]["raw_reply"]).items() >= json.loads(POST).items()


@pytest.mark.parametrize(
    ("behaviour", "model", "expected"),
    [
        (Garbage(b"\x00\x01 not json"), None, "invalid reply"),
        (Reply("Honestly, I'd just chill."), None, "invalid reply"),
        (Error(500, "out of memory"), None, "HTTP 500: out of memory"),
        (None, "mistral-nope", "ollama pull mistral-nope"),
    ],
)
def test_run_now_failures_exit_1_with_a_clear_line(
    data_dir: Path, ollama: OllamaServer, behaviour, model, expected
) -> None:
    if behaviour is not None:
        ollama.script(behaviour)
    if model:
        assert cli(data_dir, "config", "set", "model", model).returncode == 0
    result = cli(data_dir, "run-now", host=ollama.url)
    assert result.returncode == 1
    assert expected in result.stdout
    assert "Traceback" not in result.stderr
    with _db(data_dir) as db:
        assert db.execute("SELECT COUNT(*) FROM posts").fetchone() == (0,)
        status, reason = db.execute("SELECT status, reason FROM runs").fetchone()
        assert status == "failed" and expected in reason
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_run_now_server_not_running(data_dir: Path) -> None:
    result = cli(data_dir, "run-now", "--json", host="http://127.0.0.1:9")
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["status"] == "failed" and "cannot reach Ollama at http://127.0.0.1:9" in out["reason"]
    with _db(data_dir) as db:
        assert db.execute("SELECT COUNT(*) FROM posts").fetchone() == (0,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_dry_run_and_skip_exit_0(data_dir: Path, ollama: OllamaServer) -> None:
    ollama.script(Act(POST))
    result = cli(data_dir, "run-now", "--dry-run", host=ollama.url)
    assert result.returncode == 0 and "dry run, would post" in result.stdout
    (data_dir / "HEARTBEAT.md").write_text("## Checklist\n- [x] done\n")
    requests_before = len(ollama.requests)
    result = cli(data_dir, "run-now", "--json", host=ollama.url)
    assert result.returncode == 0 and json.loads(result.stdout)["status"] == "skipped"
    assert len(ollama.requests) == requests_before


def test_config_get_set_and_range_errors(data_dir: Path) -> None:
    assert cli(data_dir, "config", "set", "every_seconds", "900").returncode == 0
    assert cli(data_dir, "config", "get", "every_seconds").stdout.strip() == "900"
    result = cli(data_dir, "config", "set", "every_seconds", "30")
    assert result.returncode == 2 and "from 60 to 86400" in result.stderr
    result = cli(data_dir, "config", "set", "temperature", "2")
    assert result.returncode == 2 and "from 0 to 1" in result.stderr
    result = cli(data_dir, "config", "set", "nonsense", "1")
    assert result.returncode == 2 and "unknown setting" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(data_dir: Path) -> None:
    assert cli(data_dir, "run-now", "--bogus").returncode == 2
    result = cli(data_dir, "run-now", "--thread", "nope")
    assert result.returncode == 2 and "no thread 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_threads_messages_notes_check_status(data_dir: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    assert cli(data_dir, "threads", "add", "work", "--title", "Work", "--workspace", str(workspace)).returncode == 0
    assert (workspace / "HEARTBEAT.md").exists()
    assert cli(data_dir, "message", "--thread", "work", "ship", "the", "release").returncode == 0
    assert (
        cli(data_dir, "note", "--thread", "work", "--kind", "contradiction", "said Monday, then Tuesday").returncode
        == 0
    )
    assert cli(data_dir, "threads", "add", "work").returncode == 2
    status = json.loads(cli(data_dir, "status", "--json").stdout)
    assert [t["id"] for t in status["threads"]] == ["default", "work"]
    (tmp_path / "x.md").write_text(GOOD_MD)
    check = cli(data_dir, "check", str(tmp_path / "x.md"))
    assert check.returncode == 0 and "Summarise open questions" in check.stdout and "actionable: yes" in check.stdout
    assert cli(data_dir, "threads", "remove", "work").returncode == 0
    assert cli(data_dir, "threads", "remove", "default").returncode == 2


def test_traceback_only_with_debug(data_dir: Path) -> None:
    (data_dir / "heartbeat.db").write_bytes(b"this is not a database" * 100)
    result = cli(data_dir, "status")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("heartbeat-desktop: error:")
    debug = cli(data_dir, "status", env={"LOG_LEVEL": "DEBUG"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_settings(data_dir: Path, ollama: OllamaServer) -> None:
    assert cli(data_dir, "settings", "set", "ollama_host", ollama.url).returncode == 0
    ollama.script(Act(POST))
    # the stored host wins over $OLLAMA_HOST (which points nowhere here)
    assert cli(data_dir, "run-now").returncode == 0
    assert cli(data_dir, "settings", "set", "llm_timeout", "abc").returncode == 2
    assert cli(data_dir, "settings", "get", "hold_during_dnd").stdout.strip() == "on"
    bad = cli(data_dir, "settings", "set", "hold_during_dnd", "maybe")
    assert bad.returncode == 2 and "hold_during_dnd: must be on or off" in bad.stderr
    assert cli(data_dir, "settings", "set", "hold_during_dnd", "False").stdout.strip() == "hold_during_dnd = off"
    assert cli(data_dir, "settings", "get", "hold_during_dnd").stdout.strip() == "off"


def test_options_may_sit_between_words(data_dir: Path) -> None:
    assert cli(data_dir, "threads", "add", "--title", "My Work", "work").returncode == 0
    assert cli(data_dir, "config", "set", "--thread", "work", "max_tokens", "300").returncode == 0
    assert cli(data_dir, "config", "get", "max_tokens", "--thread", "work").stdout.strip() == "300"
    assert cli(data_dir, "config", "frobnicate").returncode == 2
    assert cli(data_dir, "config", "set", "--bogus", "x").returncode == 2
    result = cli(data_dir, "config", "set", "active_hours_start", "22")
    assert result.returncode == 2 and "config set active_hours 22-6" in result.stderr
    assert cli(data_dir, "config", "set", "active_hours", "22-6").returncode == 0
    assert cli(data_dir, "config", "get", "active_hours_end").stdout.strip() == "6"
    assert cli(data_dir, "config", "get", "active_hours").stdout.strip() == "22-6"  # read back as it was set
    assert cli(data_dir, "config", "set", "active_hours", "25-6").returncode == 2
    assert cli(data_dir, "config", "set", "defer_on_battery", "yes").returncode == 0
    assert cli(data_dir, "config", "get", "defer_on_battery").stdout.strip() == "true"
    assert cli(data_dir, "config", "set", "defer_when_idle_minutes", "-1").returncode == 2


NO_KEYRING = {
    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
}


def test_provider_commands_guard_built_ins_urls_and_keys(data_dir: Path) -> None:
    hijack = cli(data_dir, "provider", "add", "openai", "--kind", "openai", "--url", "http://127.0.0.1:18116/v1")
    assert hijack.returncode == 2 and "'openai' is built in" in hijack.stderr  # its key must not go elsewhere
    creds = cli(data_dir, "provider", "add", "box", "--kind", "openai", "--url", "http://me:secret@box:8000/v1")
    assert creds.returncode == 2 and "no user name or password in the URL" in creds.stderr
    for hidden, code in (("\x1b[2J", "U+001B"), ("\u202e", "U+202E"), ("\u2028", "U+2028")):
        url = f"http://box:8000/v1{hidden}"
        refused = cli(data_dir, "provider", "add", "box", "--kind", "openai", "--url", url)
        assert refused.returncode == 2 and f"an invisible or control character ({code})" in refused.stderr
    assert "box" not in cli(data_dir, "provider", "list", env=NO_KEYRING).stdout
    removed = cli(data_dir, "provider", "remove", "ollama")
    assert removed.returncode == 2 and "'ollama' is built in and cannot be removed" in removed.stderr
    cleared = cli(data_dir, "provider", "clear-key", "openai", env=NO_KEYRING)
    assert cleared.returncode == 0 and "no key was stored for openai" in cleared.stdout
    empty = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "provider", "set-key", "openai"],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), **NO_KEYRING},
        cwd=REPO,
        timeout=60,
    )
    assert empty.returncode == 2 and "no key given" in empty.stderr
    stored = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "provider", "set-key", "openai", "--store-plaintext-key-file"],
        input="sk-plain\n",
        capture_output=True,
        text=True,
        env={**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), **NO_KEYRING},
        cwd=REPO,
        timeout=60,
    )
    assert stored.returncode == 0
    listing = cli(data_dir, "provider", "list", env=NO_KEYRING).stdout
    assert "key set (in api-keys.PLAINTEXT.json)" in next(
        line for line in listing.splitlines() if line.startswith("openai")
    )


def _set_key(data_dir: Path, name: str, key: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "provider", "set-key", name, "--store-plaintext-key-file"],
        input=key + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), **NO_KEYRING},
        cwd=REPO,
        timeout=60,
    )


def test_the_plaintext_key_file_is_never_written_through_a_link_and_a_broken_one_says_the_way_out(
    data_dir: Path, tmp_path: Path
) -> None:
    """Found by the README-only attack (#25): set-key wrote the key through a link planted at the file's name;
    a file of the wrong shape gave tracebacks and "unlock your keyring" where there is no keyring; a key with a
    letter no header carries failed every run with an encoding error."""
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}", encoding="utf-8")
    key_file = data_dir / "api-keys.PLAINTEXT.json"
    key_file.symlink_to(elsewhere)
    assert cli(data_dir, "provider", "add", "lm", "--kind", "openai", "--url", "http://127.0.0.1:9/v1").returncode == 0
    assert _set_key(data_dir, "lm", "sk-plain-key-1234").returncode == 0
    assert elsewhere.read_text(encoding="utf-8") == "{}" and not key_file.is_symlink()
    assert json.loads(key_file.read_text(encoding="utf-8")) == {"lm": "sk-plain-key-1234"}
    assert key_file.stat().st_mode & 0o777 == 0o600

    pasted = _set_key(data_dir, "lm", "sk-\u00fcnicode-key")
    assert pasted.returncode == 2 and "character 4 of the key ('ü') is not visible ASCII" in pasted.stderr
    assert "nicode" not in pasted.stderr  # the key is never echoed

    assert cli(data_dir, "config", "set", "model", "lm:m1", env=NO_KEYRING).returncode == 0
    for broken in ('{"lm": 5}', "not json", "[1, 2]", '{"lm": "k1-aaaaaaaa", "lm": "k2-bbbbbbbb"}', '{"lm": ""}'):
        key_file.write_text(broken, encoding="utf-8")
        listed = cli(data_dir, "provider", "list", env=NO_KEYRING)
        assert listed.returncode == 0 and "cannot be used" in listed.stderr and "Traceback" not in listed.stderr
        run = cli(data_dir, "run-now", env=NO_KEYRING)
        said = run.stdout + run.stderr
        assert run.returncode == 1 and "fix or remove that file" in said, said
        assert "unlock your keyring" not in said and "internal error" not in said and "Traceback" not in said
        stored = _set_key(data_dir, "lm", "sk-new-key-5678")
        assert stored.returncode == 1 and "fix or remove that file" in stored.stderr
        assert key_file.read_text(encoding="utf-8") == broken  # the user's file is never guessed at


def test_history_shows_dry_runs_and_notes(data_dir: Path, ollama: OllamaServer) -> None:
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD)
    ollama.refuse_schema_format = Error(400, 'invalid format: expected "json" or a JSON schema')
    ollama.script(Act(POST))
    assert cli(data_dir, "run-now", "--dry-run", host=ollama.url).returncode == 0
    text = cli(data_dir, "history", host=ollama.url).stdout
    assert "ok (dry)" in text and "note: ollama refused the output format schema" in text
    (item,) = json.loads(cli(data_dir, "history", "--json", host=ollama.url).stdout)
    assert item["dry_run"] is True and "refused the output format schema" in item["warnings"][0]


@pytest.mark.parametrize("limit", ["0", "-1", "100000000000000000000", "many"])
def test_history_limit_is_checked_where_it_is_typed(data_dir: Path, limit: str) -> None:
    result = cli(data_dir, "history", "--limit", limit)
    assert result.returncode == 2 and "--limit" in result.stderr and "1–10000" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def read_only_data(tmp_path: Path):
    """A data directory on a read-only file system (a tmpfs remounted read-only; root can still write a
    chmod-ed directory, so permissions alone would prove nothing here)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root and mount to make a read-only file system")
    try:
        yield mount / "data"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_read_only_commands_work_in_a_read_only_data_dir(read_only_data: Path, ollama: OllamaServer) -> None:
    (read_only_data).mkdir()
    (read_only_data / "HEARTBEAT.md").write_text(GOOD_MD)
    ollama.script(Act(POST))
    assert cli(read_only_data, "run-now", host=ollama.url).returncode == 0
    assert subprocess.run(["mount", "-o", "remount,ro", str(read_only_data.parent)]).returncode == 0
    history = cli(read_only_data, "history", "--json", host=ollama.url)
    assert history.returncode == 0 and json.loads(history.stdout)[0]["status"] == "ok", history.stderr
    for args in (("status",), ("feed",), ("threads", "list"), ("config", "get"), ("settings", "get")):
        result = cli(read_only_data, *args, host=ollama.url)
        assert result.returncode == 0, (args, result.stderr)
    feed = cli(read_only_data, "feed", "--json", host=ollama.url)
    assert json.loads(feed.stdout)[0]["title"] == "Standup notes"
    write = cli(read_only_data, "message", "--thread", "default", "hi", host=ollama.url)
    assert write.returncode == 1 and "cannot be written" in write.stderr


@pytest.mark.parametrize("args", [(), ("open", "settings")])
def test_without_a_display_the_tray_says_so_and_exits_2(data_dir: Path, args: tuple[str, ...]) -> None:
    """Qt aborted the process (exit 134, a core dump) with a message about xcb-cursor0."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["HEARTBEAT_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "no graphical session found" in result.stderr
    assert "heartbeat-desktop --help" in result.stderr and "xcb" not in result.stderr


def test_input_is_checked_where_it_is_typed(data_dir: Path) -> None:
    for bad, says in (
        ("notaurl", "did you mean http://notaurl:11434?"),
        ("ftp://x", "http:// or https://"),
        # the README-only attack (#25): with /api in the address, runs failed as "model not installed"
        ("http://127.0.0.1:18801/api", "an endpoint of the server, not its address: use http://127.0.0.1:18801"),
        ("http://box:11434/proxy/api/chat", "use http://box:11434/proxy"),
    ):
        result = cli(data_dir, "settings", "set", "ollama_host", bad)
        assert result.returncode == 2 and says in result.stderr, result.stderr
    for url, base in (
        ("http://box:8000/v1/chat/completions", "http://box:8000/v1"),
        ("http://b:1/v1/messages/", "http://b:1/v1"),
    ):
        added = cli(data_dir, "provider", "add", "box", "--kind", "openai", "--url", url)
        assert added.returncode == 2 and f"not its base URL: use {base}" in added.stderr, added.stderr
    for good in (
        "http://gpu-box.local:11434",
        "gpu-box:11434",
        "https://ollama.example.com",
        "http://b:1/proxy/ollama",
    ):
        assert cli(data_dir, "settings", "set", "ollama_host", good).returncode == 0
        assert cli(data_dir, "settings", "get", "ollama_host").stdout.strip() == good
    assert cli(data_dir, "settings", "set", "ollama_host", "").returncode == 0  # back to the default…
    assert cli(data_dir, "settings", "get", "ollama_host").stdout.strip() == "http://127.0.0.1:9"  # …shown as in use
    zone = cli(data_dir, "config", "set", "timezone", "Nowhere/City")
    assert zone.returncode == 2 and "IANA time zone name such as Europe/Berlin" in zone.stderr
    assert "any text" not in zone.stderr
    assert cli(data_dir, "config", "set", "timezone", "local").returncode == 0
    missing = cli(data_dir, "check", "nosuch.md")
    assert missing.returncode == 2 and missing.stdout == "" and "no such file" in missing.stderr


def test_threads_pause_and_resume(data_dir: Path) -> None:
    assert cli(data_dir, "threads", "pause", "default").returncode == 0
    assert "[paused]" in cli(data_dir, "threads", "list").stdout
    assert json.loads(cli(data_dir, "threads", "list", "--json").stdout)[0]["paused"] is True
    resumed = cli(data_dir, "threads", "resume", "default")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    assert "[paused]" not in cli(data_dir, "threads", "list").stdout


@pytest.mark.parametrize("bad", ["http://127.0.0.1:99999", "http://[::1"])
def test_an_unusable_ollama_host_variable_is_reported_not_a_traceback(data_dir: Path, bad: str) -> None:
    """The ollama library parsed $OLLAMA_HOST when imported and raised: every command failed with a
    traceback, even `settings set ollama_host`, the way to fix it."""
    env = {"OLLAMA_HOST": bad}
    status = cli(data_dir, "status", env=env)
    assert status.returncode == 0 and "Traceback" not in status.stderr
    assert "address is not usable" in status.stdout
    run = cli(data_dir, "run-now", env=env)
    assert run.returncode == 1 and "settings set ollama_host" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert cli(data_dir, "settings", "set", "ollama_host", "http://127.0.0.1:11434", env=env).returncode == 0


def test_a_host_without_a_port_is_ollamas_port() -> None:
    from heartbeat_desktop.llm.ollama_client import resolve_host

    assert resolve_host("0.0.0.0") == "http://0.0.0.0:11434"
    assert resolve_host("http://gpu-box") == "http://gpu-box:11434"
    assert resolve_host("https://ollama.example.com/") == "https://ollama.example.com:443"
    assert resolve_host("gpu-box:8080") == "http://gpu-box:8080"
    assert resolve_host("https://proxy.example.com/ollama") == "https://proxy.example.com:443/ollama"


def test_api_info_where_no_token_can_be_made_says_why(data_dir: Path) -> None:
    import os as _os

    if _os.geteuid() == 0 and not shutil.which("capsh"):
        pytest.skip("root without capsh ignores permissions")
    assert cli(data_dir, "status").returncode == 0
    data_dir.chmod(0o500)
    try:
        command = [sys.executable, "-m", "heartbeat_desktop", "api", "info"]
        if _os.geteuid() == 0:  # root reads and writes anything unless it drops the capability
            command = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", " ".join(command)]
        env = {**_os.environ, "HEARTBEAT_DATA_DIR": str(data_dir)}
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    finally:
        data_dir.chmod(0o700)
    assert result.returncode == 1 and "no API token yet, and none can be made" in result.stderr
    assert "[Errno" not in result.stderr


def test_an_app_that_holds_the_lock_but_does_not_answer_is_running_not_absent(
    data_dir: Path, ollama: OllamaServer
) -> None:
    """Found by a new user: with the app's socket removed (it re-creates it within 30 s), `status` said "not
    running" and `run-now` ran the heartbeat in the CLI, a second writer beside the app. The lock is the
    authority: the CLI says the app runs and does not answer, and does nothing in its place."""
    from tests.support.lock_holder import lock_held_elsewhere

    ollama.script(Act(POST))
    assert cli(data_dir, "threads", "list").returncode == 0  # the database exists before the "app" holds it
    with lock_held_elsewhere(data_dir, str(data_dir / "gone.sock")) as app:
        status = cli(data_dir, "status")
        assert status.returncode == 0, status.stderr
        assert f"running (pid {app.pid}) but not answering" in status.stdout
        info = json.loads(cli(data_dir, "status", "--json").stdout)
        assert (info["app_running"], info["app_answering"], info["app_pid"]) == (True, False, app.pid)
        run = cli(data_dir, "run-now", host=ollama.url)
        assert run.returncode == 1 and "did not answer" in run.stderr and "try again" in run.stderr
        quit_ = cli(data_dir, "quit")
        assert quit_.returncode == 1 and f"pid {app.pid}" in quit_.stderr
    assert ollama.chat_requests() == []  # nothing ran in the app's place
    with _db(data_dir) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_a_reader_that_goes_away_is_not_an_error(data_dir: Path) -> None:
    """`history --json | head`: the CLI stops quietly, as cat and grep do, instead of printing
    "error: [Errno 32] Broken pipe" (found by a new user)."""
    from heartbeat_desktop.store import SqliteStore

    env = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"} | {"HEARTBEAT_DATA_DIR": str(data_dir)}
    store = SqliteStore(data_dir / "heartbeat.db")
    for n in range(400):  # more JSON than a pipe holds (64 KiB), so a write meets the closed pipe
        store.threads.create(f"thread-{n:03}", f"Thread number {n}")
    store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "heartbeat_desktop", "status", "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()  # the reader has what it wanted
    err = proc.stderr.read().decode()
    code = proc.wait(60)
    assert "Broken pipe" not in err and "Traceback" not in err, err
    assert code in (0, 141)


def test_pause_resume_and_unload_without_a_running_app(data_dir: Path, ollama: OllamaServer) -> None:
    """No app: the pause is stored (the app starts paused, `status` says so), and unloading asks the model
    server from the command line itself."""
    result = cli(data_dir, "pause")
    assert result.returncode == 0 and "holds when it starts" in result.stdout, result.stderr
    assert json.loads(cli(data_dir, "status", "--json").stdout)["paused"] is True
    assert cli(data_dir, "resume").returncode == 0
    assert json.loads(cli(data_dir, "status", "--json").stdout)["paused"] is False
    ollama.loaded.add("qwen3:4b")
    result = cli(data_dir, "unload-models", host=ollama.url)
    assert result.returncode == 0 and "unloaded qwen3:4b" in result.stdout, result.stderr
    assert ollama.loaded == set()
    again = cli(data_dir, "unload-models", host=ollama.url)
    assert again.returncode == 0 and again.stdout.strip().endswith(": no model was loaded")
    result = cli(data_dir, "unload-models")  # nothing listens on port 9
    assert result.returncode == 1 and result.stderr.startswith("heartbeat-desktop: error:")


def test_unload_models_says_per_server_what_it_did_and_never_mentions_an_unused_ollama(
    data_dir: Path, ollama: OllamaServer
) -> None:
    """Issue "rough edges" item 1: with every thread on a llama.cpp server and no Ollama, `unload-models` failed
    with "cannot reach Ollama". Only the servers the threads use are acted on, each said in its own line."""
    from tests.support.provider_servers import ProviderServer

    server = ProviderServer("openai", key=None, models=("smollm2",), owned_by="llamacpp")
    port = server.base_url.split(":")[-1].split("/")[0]
    keeps = f"llama.cpp server on :{port} keeps its model loaded; stop the server to free its memory"
    try:
        added = cli(data_dir, "provider", "add", "llamacpp", "--kind", "openai", "--url", server.base_url)
        assert added.returncode == 0
        assert cli(data_dir, "threads", "add", "local").returncode == 0
        assert cli(data_dir, "config", "set", "--thread", "local", "model", "llamacpp:smollm2").returncode == 0
        ollama.loaded.add("qwen3:4b")
        result = cli(data_dir, "unload-models", host=ollama.url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"Ollama at {ollama.url}: unloaded qwen3:4b", keeps]
        assert ollama.loaded == set()
        assert cli(data_dir, "config", "set", "--thread", "default", "model", "llamacpp:smollm2").returncode == 0
        result = cli(data_dir, "unload-models")  # no Ollama at all (nothing listens on port 9), and none used
        assert result.returncode == 0 and result.stdout.splitlines() == [keeps] and result.stderr == "", result
    finally:
        server.stop()


def test_a_providers_models_are_named_and_a_typo_in_its_name_is_caught(data_dir: Path) -> None:
    """#24: `provider test` said "1 models" without naming them, and `config set model lama:smollm2` (a
    typo of provider llama) was accepted and routed to Ollama."""
    from tests.support.provider_servers import ProviderServer

    server = ProviderServer("openai", key=None, models=("smollm2", "qwen2.5-coder"))
    try:
        assert cli(data_dir, "provider", "add", "llama", "--kind", "openai", "--url", server.base_url).returncode == 0
        tested = cli(data_dir, "provider", "test", "llama")
        assert tested.returncode == 0 and "models: qwen2.5-coder, smollm2 (use one as llama:MODEL" in tested.stdout
        listed = cli(data_dir, "provider", "models", "llama")
        assert listed.stdout.split() == ["llama:qwen2.5-coder", "llama:smollm2"]
        assert json.loads(cli(data_dir, "provider", "models", "llama", "--json").stdout) == listed.stdout.split()
        typo = cli(data_dir, "config", "set", "model", "lama:smollm2")
        assert typo.returncode == 2 and "did you mean llama:smollm2?" in typo.stderr
        # the README-only attack (#25): these were accepted (":" went to Ollama as a model name) or mis-said
        for odd, says in (
            ("llama:", "'llama:' names no model after the ':' (e.g. llama:llama3.2)"),
            ("ollama:", "names no model after the ':'"),
            (":", "names no model after the ':'"),
            (":m1", "names no provider before the ':'"),
            ("LLAMA:smollm2", "did you mean llama:smollm2?"),
        ):
            refused = cli(data_dir, "config", "set", "model", odd)
            assert refused.returncode == 2 and says in refused.stderr, (odd, refused.stderr)
        missing = cli(data_dir, "config", "set", "model", "llama:nope")
        assert missing.returncode == 0 and "llama does not list a model 'nope'" in missing.stderr
        assert "smollm2" in missing.stderr
        good = cli(data_dir, "config", "set", "model", "llama:smollm2")
        assert good.returncode == 0 and good.stderr == ""
        tag = cli(data_dir, "config", "set", "model", "qwen3:4b")  # an Ollama tag, nothing like a provider
        assert tag.returncode == 0 and tag.stderr == ""
    finally:
        server.stop()
    down = cli(data_dir, "config", "set", "model", "llama:smollm2")  # the server is gone: saved, and said
    assert down.returncode == 0 and "could not check that llama has 'smollm2'" in down.stderr


def test_a_failed_run_is_said_once(data_dir: Path) -> None:
    """#27 item 8: the run's line on stdout, and not the same again as a log warning on stderr; the log
    file still has it."""
    result = cli(data_dir, "run-now")
    assert result.returncode != 0 and "failed: cannot reach Ollama" in result.stdout
    assert "Heartbeat failed" not in result.stderr, result.stderr
    assert "Heartbeat failed for thread default" in (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")


def test_small_edges_of_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    """#27 item 8: a HEARTBEAT.md of only whitespace is as empty as an empty one; `run-now --help` explains
    every option; one model is "1 model"."""
    from tests.support.provider_servers import ProviderServer

    for text in ("", "  \n\t\n"):
        md = tmp_path / "HEARTBEAT.md"
        md.write_text(text, encoding="utf-8")
        assert cli(data_dir, "check", str(md)).returncode == 1, repr(text)
        assert cli(data_dir, "check", str(md), "--json").returncode == 1, repr(text)
    helped = cli(data_dir, "run-now", "--help").stdout
    assert "the thread's id" in helped and "one JSON object" in helped
    server = ProviderServer("openai", key=None, models=("smollm2",))
    try:
        assert cli(data_dir, "provider", "add", "one", "--kind", "openai", "--url", server.base_url).returncode == 0
        assert "one: OpenAI-compatible, 1 model\n" in cli(data_dir, "provider", "test", "one").stdout
    finally:
        server.stop()


def test_times_read_alike_and_the_built_in_ollama_is_marked(data_dir: Path) -> None:
    """#27 item 8: `status` printed ISO times with an offset beside `history`'s local ones; `provider list`
    marked the built-in OpenAI and Anthropic but not Ollama."""
    import re

    cli(data_dir, "run-now")  # fails: nothing listens on port 9
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    status = cli(data_dir, "status").stdout
    history = cli(data_dir, "history").stdout
    assert stamp.search(status) and stamp.search(history) and "T" not in stamp.search(status).group()
    assert "+00:00" not in status
    rows = cli(data_dir, "provider", "list").stdout.splitlines()
    ollama_row = next(line for line in rows if line.startswith("ollama"))
    assert ollama_row.endswith("(built-in)")


def test_the_small_inputs_the_readme_only_attack_found_taken_wrongly(data_dir: Path) -> None:
    """#25: each was accepted (or said) wrongly; each is now refused where it is typed, with what is meant."""
    for args, says in (
        (("config", "set", "every_seconds", "600_0"), "every_seconds must be a whole number"),  # int() read 6000
        (("config", "set", "active_hours", "9-9"), "starts and ends at the same hour; for all day use off"),
        (("settings", "set", "llm_timeout", "nan"), "llm_timeout must be a number from 1 to 3600, not 'nan'"),
        (("threads", "add", "long", "--title", "x" * 300), "the title is 300 characters; the most is 200"),
        (("message", "\u200b\u200b"), "message text is empty (or only invisible characters)"),
        (("note", "\u200b"), "note text is empty (or only invisible characters)"),
        (("provider", "add", "p0", "--kind", "openai", "--url", "http://box:0/v1"), "the port must be 1–65535"),
        (("provider", "add", "pq", "--kind", "openai", "--url", "http://box:8000/v1?x=1"), "no query or fragment"),
    ):
        result = cli(data_dir, *args)
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)
    upper = cli(data_dir, "provider", "add", "box", "--kind", "openai", "--url", "HTTP://box:8000/v1")
    assert upper.returncode == 0 and "at http://box:8000/v1" in upper.stdout
    assert cli(data_dir, "config", "get", "every_seconds").stdout.strip() == "1800"


def test_a_stored_ollama_host_that_is_ignored_is_ignored_everywhere(
    data_dir: Path, store: SqliteStore, ollama: OllamaServer
) -> None:
    """The README-only attack (#25): a bad stored ollama_host was reported as "ignored … using the default", and
    then every run went to it anyway."""
    store.settings.set("ollama_host", "notaurl")  # as an older version, or a hand edit, left it
    result = cli(data_dir, "run-now", "--json", host=ollama.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "ok" and len(ollama.chat_requests()) == 1
    # the warning still says what was ignored: in the log, and in `status` (#27 item 8: not as a log line)
    assert "notaurl" in (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")
    status = json.loads(cli(data_dir, "status", "--json", host=ollama.url).stdout)
    assert status["ollama_host"] == ollama.url
    assert any("notaurl" in warning for warning in status["settings_warnings"])


def test_a_heartbeat_md_deleted_or_unreadable_is_reported_and_never_replaced(data_dir: Path) -> None:
    """#27 item 5 and the README-only attack (#25): a deleted HEARTBEAT.md came back as the default template on
    the next command and the agent acted on it; an unreadable one was a quiet skip (exit 0) a cron job never sees."""
    assert cli(data_dir, "threads", "list").returncode == 0  # the very first start writes the template
    md = data_dir / "HEARTBEAT.md"
    assert md.exists()
    md.unlink()
    result = cli(data_dir, "run-now", "--json")
    run = json.loads(result.stdout)
    assert result.returncode == 1 and run["status"] == "failed" and "does not exist" in run["reason"], run
    assert not md.exists()  # reported, not replaced
    md.symlink_to(md)  # a link to itself: cannot be read
    looped = json.loads(cli(data_dir, "run-now", "--json").stdout)
    assert looped["status"] == "failed" and "cannot read" in looped["reason"], looped
    assert "HEARTBEAT.md" in cli(data_dir, "status").stdout
    md.unlink()
    checked = cli(data_dir, "check")  # says the same as the run: where it was, that nothing replaced it, what to do
    assert checked.returncode == 2 and f"no such file: {md}" in checked.stderr
    assert "offers to create it from the template" in checked.stderr and not md.exists()
    failed = json.loads(cli(data_dir, "run-now", "--json").stdout)
    assert "offers to create it from the template" in failed["reason"]
    assert "offers to create it from the template" in cli(data_dir, "status").stdout


def test_a_workspace_threads_missing_heartbeat_md_fails_that_thread_only(data_dir: Path, tmp_path: Path) -> None:
    """#27 item 5: a workspace thread reads its own file; missing, it is reported, never filled in."""
    workspace = tmp_path / "proj"
    workspace.mkdir()
    assert cli(data_dir, "threads", "add", "proj", "--workspace", str(workspace)).returncode == 0
    (workspace / "HEARTBEAT.md").unlink()  # `threads add` gave it a starter file; the user deleted it
    run = json.loads(cli(data_dir, "run-now", "--thread", "proj", "--json").stdout)
    assert run["status"] == "failed" and f"{workspace / 'HEARTBEAT.md'} does not exist" in run["reason"], run
    assert not (workspace / "HEARTBEAT.md").exists()
    checked = cli(data_dir, "check", "--thread", "proj")
    assert checked.returncode == 2 and "offers to create it from the template" in checked.stderr


def test_a_password_in_ollama_host_is_never_kept_shown_or_sent(data_dir: Path) -> None:
    """The README-only attack (#25): `OLLAMA_HOST=http://u:secret@host` put the password in the run's reason,
    `status`, the log and the database."""
    host = "http://u:pw1234secret@127.0.0.1:9"
    run = cli(data_dir, "run-now", "--json", host=host)
    status = cli(data_dir, "status", "--json", host=host)
    said = json.loads(run.stdout)["reason"]
    assert run.returncode == 1 and "holds a user name or password, which the app never stores or sends" in said
    everything = run.stdout + run.stderr + status.stdout + status.stderr
    everything += (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")
    everything += (data_dir / "heartbeat.db").read_bytes().decode("utf-8", "replace")
    assert "pw1234secret" not in everything


def test_a_run_here_stopped_by_a_signal_ends_recorded_as_cancelled(data_dir: Path, ollama: OllamaServer) -> None:
    """The second README-only attack (#25): `timeout 2 heartbeat-desktop run-now` (SIGTERM) or a closed terminal
    (SIGHUP) left the run "started", shown later as "the app stopped"; each now cancels the run, recorded."""
    import signal
    import time

    ollama.default = Reply('{"action": "none", "reason": "slow"}', delay_s=30)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        environ = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
        environ.update({"HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": ollama.url})
        asked = len(ollama.chat_requests())
        proc = subprocess.Popen(
            [sys.executable, "-m", "heartbeat_desktop", "run-now", "--json"],
            env=environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while len(ollama.chat_requests()) == asked and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        out, _err = proc.communicate(timeout=30)
        run = json.loads(out)
        assert proc.returncode == 1 and run["status"] == "failed" and "cancelled" in run["reason"], (sig, run)
    history = json.loads(cli(data_dir, "history", "--json", host=ollama.url).stdout)
    assert [r["status"] for r in history] == ["failed"] * 3  # none left "started" or "interrupted"


def test_an_api_port_another_program_holds_is_said_without_the_app_too(data_dir: Path) -> None:
    """The second README-only attack (#25): with the app not running, `api enable --port N` on a port another
    program holds said "local API on" and `api info` gave the URL and the token without a word."""
    import socket

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        port = str(squatter.getsockname()[1])
        enabled = cli(data_dir, "api", "enable", "--port", port)
        assert enabled.returncode == 1 and f"127.0.0.1:{port} is taken" in enabled.stderr, enabled.stderr
        info = cli(data_dir, "api", "info")
        assert info.returncode == 1 and "NOT LISTENING" in info.stdout and "do not send it the token" in info.stdout
    finally:
        squatter.close()
    assert cli(data_dir, "api", "info").returncode == 0  # free again: nothing to say


def test_every_command_that_takes_a_model_name_checks_it(data_dir: Path) -> None:
    """The second README-only attack (#25): only `config set model` caught a provider typo or a name with no
    model; `settings set default_model`, `eval --model` and `replay --model` took them (and sent 'oa3:' to
    Ollama as a model)."""
    assert cli(data_dir, "provider", "add", "oa3", "--kind", "openai", "--url", "http://127.0.0.1:9/v1").returncode == 0
    for args in (
        ("settings", "set", "default_model", "oa:m"),
        ("eval", "--model", "oa:m"),
        ("replay", "--model", "oa3:"),
        ("settings", "set", "default_model", ":m"),
    ):
        refused = cli(data_dir, *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "did you mean oa3:m?" in refused.stderr or "names no" in refused.stderr, (args, refused.stderr)
    assert cli(data_dir, "settings", "set", "default_model", "oa3:m").returncode == 0


def test_check_shows_tasks_on_the_threads_clock(data_dir: Path, tmp_path: Path) -> None:
    """Found by the README-only attack: `check` showed a task's next time in the machine's zone whatever the
    thread's, and read the data folder's file for a thread with its own workspace."""
    (data_dir / "HEARTBEAT.md").write_text("## Tasks\n- daily 08:00: post a summary\n", encoding="utf-8")
    assert cli(data_dir, "config", "set", "timezone", "America/New_York").returncode == 0
    assert cli(data_dir, "config", "set", "active_hours", "9-17").returncode == 0
    shown = cli(data_dir, "check")
    assert "Tasks (1), next times on the clock of thread 'default' (America/New_York, active 9–17)" in shown.stdout
    assert "daily 08:00: post a summary — next" in shown.stdout and "09:00" in shown.stdout
    assert "no — heartbeats will be skipped (its tasks still run on their clock)" in shown.stdout
    [task] = json.loads(cli(data_dir, "check", "--json").stdout)["tasks"]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert datetime.fromisoformat(task["next"]).astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") == "09:00"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "HEARTBEAT.md").write_text("## Rules\nIf x -> y\n## Tasks\n- fridays 16:00: review\n", "utf-8")
    assert cli(data_dir, "threads", "add", "ws", "--workspace", str(workspace)).returncode == 0
    mine = json.loads(cli(data_dir, "check", "--thread", "ws", "--json").stdout)
    assert [t["when"] for t in mine["tasks"]] == ["fridays 16:00"] and mine["numbered"][0]["number"] == 1
    unknown = cli(data_dir, "check", "--thread", "nope")
    assert unknown.returncode == 2 and "no such thread: 'nope'" in unknown.stderr


def test_check_of_a_workspace_file_uses_the_clock_of_the_thread_that_reads_it(data_dir: Path, tmp_path: Path) -> None:
    """Found living with the app: `check proj/HEARTBEAT.md` (read by thread proj) said its tasks were on the
    clock of thread 'default'. The thread that reads the file given is the clock; several are named; --thread
    still wins."""
    workspace = tmp_path / "proj"
    workspace.mkdir()
    (workspace / "HEARTBEAT.md").write_text("## Tasks\n- daily 08:00: post a summary\n", encoding="utf-8")
    assert cli(data_dir, "threads", "add", "proj", "--workspace", str(workspace)).returncode == 0
    assert cli(data_dir, "config", "set", "--thread", "proj", "timezone", "Asia/Tokyo").returncode == 0
    for given in (workspace / "HEARTBEAT.md", workspace):
        shown = cli(data_dir, "check", str(given))
        assert "next times on the clock of thread 'proj' (Asia/Tokyo), which reads this file" in shown.stdout, shown
    said = json.loads(cli(data_dir, "check", str(workspace / "HEARTBEAT.md"), "--json").stdout)
    assert said["clock"].startswith("the clock of thread 'proj' (Asia/Tokyo)")
    named = cli(data_dir, "check", str(workspace / "HEARTBEAT.md"), "--thread", "default").stdout
    assert "on the clock of thread 'default' (local time)" in named and "reads this file" not in named
    assert cli(data_dir, "threads", "add", "proj2", "--workspace", str(workspace)).returncode == 0
    both = cli(data_dir, "check", str(workspace / "HEARTBEAT.md")).stdout
    assert "the clock of thread 'proj' (Asia/Tokyo); threads 'proj', 'proj2' read this file (--thread picks)" in both


def test_check_says_a_task_outside_active_hours_runs_when_they_start(data_dir: Path) -> None:
    """Rough edges: a task at 06:00 in a thread active 08–22 silently ran at 08:00. `check` says so, in text and
    in --json, for a timed task and for an interval's slots."""
    (data_dir / "HEARTBEAT.md").write_text(
        "## Tasks\n- daily 06:00: post a summary\n- daily 09:00: post the plan\n- every 4h: post a status\n",
        encoding="utf-8",
    )
    assert cli(data_dir, "config", "set", "active_hours", "8-22").returncode == 0
    shown = cli(data_dir, "check")
    assert shown.returncode == 0, shown.stderr
    assert "    daily 06:00 is outside active hours 08:00–22:00: it runs at 08:00\n" in shown.stdout
    assert "every 4h: 00:00, 04:00 are outside active hours 08:00–22:00: they run at 08:00" in shown.stdout
    assert "daily 09:00 is outside" not in shown.stdout
    tasks = json.loads(cli(data_dir, "check", "--json").stdout)["tasks"]
    assert [t["outside_active_hours"] for t in tasks] == [
        "daily 06:00 is outside active hours 08:00–22:00: it runs at 08:00",
        None,
        "every 4h: 00:00, 04:00 are outside active hours 08:00–22:00: they run at 08:00",
    ]


def test_a_stored_setting_out_of_range_is_said_in_plain_words_by_status_and_check(
    data_dir: Path, store: SqliteStore
) -> None:
    """Rough edges: `status` and the rest said pydantic's "Input should be less than or equal to 1440
    [type=…]"; now a sentence names the setting, what it allows and what is used instead — and `check`, whose
    task times follow that thread's settings, says it too."""
    (data_dir / "HEARTBEAT.md").write_text("## Rules\nIf x → y\n", encoding="utf-8")
    store.threads.set_config_raw("default", '{"defer_when_idle_minutes": 5000, "target": "everyone"}')
    store.settings.set("context_tokens", "12")
    said = [
        "defer_when_idle_minutes is 5000, but it must be a whole number from 0 to 1440: the default (30) is used "
        "instead",
        "target is 'everyone', but it must be one of none, last: the default (none) is used instead",
    ]
    status = cli(data_dir, "status")
    assert f"config warning: {said[0]}" in status.stdout and f"config warning: {said[1]}" in status.stdout
    assert (
        "Setting warning: context_tokens is '12', but it must be a whole number from 1024 to 1048576: the default "
        "(4096) is used instead"
    ) in status.stdout
    assert "Input should" not in status.stdout and "type=" not in status.stdout
    assert json.loads(cli(data_dir, "status", "--json").stdout)["threads"][0]["config_warnings"] == said
    check = cli(data_dir, "check")
    assert check.returncode == 0 and f"warning: thread 'default': {said[0]}" in check.stderr
    assert json.loads(cli(data_dir, "check", "--json").stdout)["config_warnings"] == [
        f"thread 'default': {w}" for w in said
    ]


def test_the_command_line_says_what_happened_in_one_wording(
    data_dir: Path, ollama: OllamaServer, tmp_path: Path
) -> None:
    """Found living with the app: an empty filtered history said "no runs yet" though there were runs, a second
    `pause` said "heartbeats paused" again, and `threads add` had two wordings."""
    assert cli(data_dir, "history").stdout == "no runs yet\n"
    ollama.script(Act(POST))
    assert cli(data_dir, "run-now", host=ollama.url).returncode == 0  # one ok run, none failed
    assert cli(data_dir, "history", "--status", "failed").stdout == "no failed runs\n"
    workspace = tmp_path / "proj"
    workspace.mkdir()
    assert cli(data_dir, "threads", "add", "work").stdout == "added thread work\n"
    assert cli(data_dir, "threads", "add", "proj", "--workspace", str(workspace)).stdout == "added thread proj\n"
    assert cli(data_dir, "history", "--thread", "work").stdout == "no runs of thread work yet\n"
    assert (
        cli(data_dir, "history", "--thread", "work", "--status", "refused").stdout == "no refused runs of thread work\n"
    )
    note = " (Heartbeat Desktop is not running: this holds when it starts)\n"
    said = [cli(data_dir, verb).stdout for verb in ("resume", "pause", "pause", "resume")]
    assert said == [
        "heartbeats already running" + note,
        "heartbeats paused" + note,
        "heartbeats already paused" + note,
        "heartbeats resumed" + note,
    ]
