"""`heartbeat-desktop setup` as a person runs it: a real process, a real data dir, real servers on loopback that
speak Ollama's and the OpenAI-compatible protocol, found through HEARTBEAT_SETUP_ADDRESSES; and with none."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.ollama_server import OllamaServer
from tests.support.provider_servers import ProviderServer


def setup_cli(data_dir: Path, addresses: list[str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}
    environ.update(
        {"HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": "http://127.0.0.1:9",
         "HEARTBEAT_SETUP_ADDRESSES": ",".join(addresses)}
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "setup", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=60,
    )


def _settings(data_dir: Path) -> dict[str, str]:
    with sqlite3.connect(data_dir / "heartbeat.db") as db:
        return dict(db.execute("SELECT key, value FROM settings").fetchall())


def _providers(data_dir: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(data_dir / "heartbeat.db") as db:
        return {n: (k, u) for n, k, u in db.execute("SELECT name, kind, base_url FROM providers").fetchall()}


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def two_servers() -> Iterator[tuple[OllamaServer, ProviderServer]]:
    ollama = OllamaServer(models=("llama3.2:latest",)).start()
    lmstudio = ProviderServer("openai", key=None, models=("qwen2.5-7b-instruct",), owned_by="organization_owner")
    yield ollama, lmstudio
    ollama.stop()
    lmstudio.stop()


def test_with_no_server_it_says_how_to_install_ollama_and_fails(data_dir: Path) -> None:
    nowhere = [_free_address(), _free_address()]
    result = setup_cli(data_dir, nowhere)
    assert result.returncode == 1
    assert "nothing listens there" in result.stdout and "ollama pull llama3.2" in result.stderr
    listed = setup_cli(data_dir, nowhere, "--json")
    assert listed.returncode == 0
    data = json.loads(listed.stdout)
    assert data["servers"] == [] and set(data["not_found"]) == set(nowhere) and "Ollama" in data["install_help"]
    assert "default_model" not in _settings(data_dir) and "setup_done" not in _settings(data_dir)


def test_json_lists_what_each_server_serves(data_dir: Path, two_servers) -> None:
    ollama, lmstudio = two_servers
    result = setup_cli(data_dir, [ollama.url, lmstudio.base_url.removesuffix("/v1")], "--json")
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["servers"]
    assert [(s["label"].split(" on ")[0], s["models"]) for s in servers] == [
        ("Ollama", ["llama3.2:latest"]),
        ("LM Studio", ["qwen2.5-7b-instruct"]),
    ]
    assert not ollama.chat_requests() and not [r for r in lmstudio.requests if r["body"]]  # listing asks no model


def test_picking_an_openai_compatible_server_stores_a_provider_and_dry_runs_there(data_dir: Path, two_servers) -> None:
    ollama, lmstudio = two_servers
    root = lmstudio.base_url.removesuffix("/v1")
    result = setup_cli(data_dir, [ollama.url, root], "--server", root, "--model", "qwen2.5-7b-instruct")
    assert result.returncode == 0, result.stderr
    assert _providers(data_dir)["lmstudio"] == ("openai", lmstudio.base_url)
    settings = _settings(data_dir)
    assert settings["default_model"] == "lmstudio:qwen2.5-7b-instruct" and settings["setup_done"] == "1"
    assert "ollama_host" not in settings  # nothing assumes Ollama
    chats = [r for r in lmstudio.requests if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 1 and chats[0]["body"]["model"] == "qwen2.5-7b-instruct"
    assert not ollama.chat_requests()
    assert "Dry-run heartbeat with lmstudio:qwen2.5-7b-instruct: ok: nothing to do (HEARTBEAT_OK)" in result.stdout
    last = result.stdout.strip().splitlines()[-2:]
    assert last[0].startswith("Every 30 minutes") and "heartbeat-desktop pause" in last[1]
    with sqlite3.connect(data_dir / "heartbeat.db") as db:
        assert db.execute("SELECT count(*) FROM posts").fetchone()[0] == 0  # a dry run writes nothing
        assert db.execute("SELECT dry_run FROM runs").fetchall() == [(1,)]


def test_the_prompt_picks_by_number_and_an_ollama_becomes_the_apps_ollama(data_dir: Path, two_servers) -> None:
    ollama, lmstudio = two_servers
    result = setup_cli(data_dir, [lmstudio.base_url.removesuffix("/v1"), ollama.url], stdin="x\n2\n")
    assert result.returncode == 0, result.stderr
    assert "1) qwen2.5-7b-instruct" in result.stdout and "2) llama3.2:latest" in result.stdout
    assert "type a number from 1 to 2" in result.stderr
    settings = _settings(data_dir)
    assert settings["default_model"] == "llama3.2:latest" and settings["ollama_host"] == ollama.url
    assert "lmstudio" not in _providers(data_dir)
    assert [r.body["model"] for r in ollama.chat_requests()] == ["llama3.2:latest"]


def test_no_answer_or_an_unknown_model_changes_nothing(data_dir: Path, two_servers) -> None:
    ollama, _ = two_servers
    eof = setup_cli(data_dir, [ollama.url])
    assert eof.returncode == 2 and "no model chosen" in eof.stderr
    unknown = setup_cli(data_dir, [ollama.url], "--model", "nope")
    assert unknown.returncode == 2 and "found: llama3.2:latest" in unknown.stderr
    nowhere = _free_address()
    dead = setup_cli(data_dir, [ollama.url], "--server", nowhere, "--model", "x")
    assert dead.returncode == 2 and f"no model server at {nowhere}: nothing listens there" in dead.stderr
    no_thread = setup_cli(data_dir, [ollama.url], "--model", "llama3.2", "--thread", "nope")
    assert no_thread.returncode == 2 and "no thread 'nope'" in no_thread.stderr
    assert "default_model" not in _settings(data_dir) and not ollama.chat_requests()


def test_a_failed_dry_run_is_exit_1_and_says_why(data_dir: Path, two_servers) -> None:
    ollama, _ = two_servers
    from tests.support.ollama_server import Error

    ollama.script(Error(500, "model runner crashed"))
    result = setup_cli(data_dir, [ollama.url], "--model", "llama3.2", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["run"]["status"] == "failed" and "crashed" in data["run"]["reason"]
    assert data["chosen"]["model"] == "llama3.2:latest" and len(data["explanation"]) == 2
