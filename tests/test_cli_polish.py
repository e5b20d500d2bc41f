"""The command-line and API problems a new user's test found (#28), each through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat_desktop.core.providers import OLLAMA, HealthTarget, Provider, health_targets
from tests.conftest import GOOD_MD, REPO
from tests.support.citing import Act
from tests.support.ollama_server import OllamaServer
from tests.test_cli import POST, cli


def test_a_provider_in_use_is_not_removed_and_its_models_never_go_to_ollama(
    data_dir: Path, ollama: OllamaServer
) -> None:
    added = cli(data_dir, "provider", "add", "lm2", "--kind", "ollama", "--url", ollama.url, host=ollama.url)
    assert added.returncode == 0, added.stderr
    assert cli(data_dir, "threads", "add", "work", host=ollama.url).returncode == 0
    assert cli(data_dir, "config", "set", "--thread", "work", "model", "lm2:x", host=ollama.url).returncode == 0

    refused = cli(data_dir, "provider", "remove", "lm2")
    assert refused.returncode == 2
    assert "in use by thread work" in refused.stderr
    assert "heartbeat-desktop config set --thread work model MODEL" in refused.stderr and "--force" in refused.stderr
    assert "lm2" in cli(data_dir, "provider", "list").stdout

    forced = cli(data_dir, "provider", "remove", "lm2", "--force")
    assert forced.returncode == 0 and "removed provider lm2" in forced.stdout
    assert "work still name lm2" in forced.stderr

    ollama.script(Act(POST))
    run = cli(data_dir, "run-now", "--thread", "work", host=ollama.url)
    assert run.returncode == 1 and "provider 'lm2' no longer exists" in run.stdout, run.stdout
    assert "cannot reach" not in run.stdout, run.stdout
    assert ollama.chat_requests() == []
    status = cli(data_dir, "status", "--json", host=ollama.url)
    assert '"provider": "lm2"' not in status.stdout
    named = cli(data_dir, "config", "set", "model", "lm2:y", host=ollama.url)
    assert named.returncode == 2 and "provider 'lm2' no longer exists" in named.stderr
    assert cli(data_dir, "config", "set", "model", "ollama:lm2:y", host=ollama.url).returncode == 0  # Ollama's own

    # Added again, it is a provider like any other: its model goes to its server.
    assert cli(data_dir, "provider", "add", "lm2", "--kind", "ollama", "--url", ollama.url).returncode == 0
    again = cli(data_dir, "run-now", "--thread", "work", host=ollama.url)
    assert "no longer exists" not in again.stdout and len(ollama.chat_requests()) == 1


def test_the_default_model_holds_its_provider_too(data_dir: Path, ollama: OllamaServer) -> None:
    assert cli(data_dir, "provider", "add", "lm2", "--kind", "ollama", "--url", ollama.url).returncode == 0
    assert cli(data_dir, "settings", "set", "default_model", "lm2:x", host=ollama.url).returncode == 0
    refused = cli(data_dir, "provider", "remove", "lm2")
    assert refused.returncode == 2 and "the default model" in refused.stderr
    assert "settings set default_model MODEL" in refused.stderr


def test_a_removed_providers_model_has_no_server_to_check() -> None:
    llama = Provider("llama", "openai", "http://127.0.0.1:8000/v1")
    assert health_targets(["lm2:x"], [llama], "http://o:1", removed={"lm2"}) == []
    assert health_targets(["lm2:x", "qwen3:4b"], [llama], "http://o:1", removed={"lm2"}) == [
        HealthTarget(OLLAMA, "ollama", "http://o:1")
    ]
    assert health_targets(["ollama:lm2:x"], [llama], "http://o:1", removed={"lm2"})[0].provider == OLLAMA


def test_notes_take_the_numbers_as_shown_and_say_what_did_not_happen(data_dir: Path, ollama: OllamaServer) -> None:
    (data_dir / "HEARTBEAT.md").write_text(GOOD_MD, encoding="utf-8")
    assert cli(data_dir, "note", "--kind", "contradiction", "Ana: Tuesday; Ben: Wednesday").returncode == 0
    [note] = json.loads(cli(data_dir, "notes", "--json").stdout)
    shown = f"#{note['id']}"
    assert shown in cli(data_dir, "notes").stdout

    resolved = cli(data_dir, "note", "--resolve", shown)
    assert resolved.returncode == 0 and f"note #{note['id']} of default resolved" in resolved.stdout, resolved.stderr
    again = cli(data_dir, "note", "--resolve", f"n{note['id']}")
    assert again.returncode == 0 and "is already resolved" in again.stdout
    ollama.script(Act(POST))  # a post raised from no note
    assert json.loads(cli(data_dir, "run-now", "--json", host=ollama.url).stdout)["status"] == "ok"
    post_id = json.loads(cli(data_dir, "feed", "--json").stdout)[0]["id"]
    commented = cli(data_dir, "comment", str(post_id), "Thanks.", "--resolve")
    assert commented.returncode == 0
    assert f"no open note was raised by post #{post_id}; nothing resolved" in commented.stdout
    assert cli(data_dir, "note", "--reopen", str(note["id"])).returncode == 0
    assert "is already open" in cli(data_dir, "note", "--reopen", shown).stdout
    bad = cli(data_dir, "note", "--resolve", "x1")
    assert bad.returncode == 2 and "must be a note's number" in bad.stderr and "4611686018427387904" not in bad.stderr

    huge = cli(data_dir, "comment", "0", "x")
    assert huge.returncode == 2 and "1 or more" in huge.stderr and "4611686018427387904" not in huge.stderr


def test_setup_says_an_address_is_no_url_and_offers_no_range_of_one(data_dir: Path) -> None:
    given = cli(data_dir, "setup", "--server", "notaurl", env={"HEARTBEAT_SETUP_ADDRESSES": ""})
    assert given.returncode == 2 and "not a URL: use http://host:port" in given.stderr
    assert "nothing listens" not in given.stderr
    garbage = cli(data_dir, "setup", "--json", env={"HEARTBEAT_SETUP_ADDRESSES": "garbage"})
    assert json.loads(garbage.stdout)["not_found"] == {"garbage": "not a URL: use http://host:port"}

    ollama = OllamaServer(models=("llama3.2:latest",)).start()  # one model: one choice
    try:
        one = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", "setup"],
            input="q\n",
            capture_output=True,
            text=True,
            env={**os.environ, "HEARTBEAT_DATA_DIR": str(data_dir), "HEARTBEAT_SETUP_ADDRESSES": ollama.url},
            cwd=REPO,
            timeout=60,
        )
    finally:
        ollama.stop()
    assert "1) " in one.stdout and "[Enter for 1, q to quit]" in one.stdout and "1–1" not in one.stdout, one.stdout


def test_an_ollama_provider_at_a_v1_url_is_warned_of_at_once(data_dir: Path) -> None:
    added = cli(data_dir, "provider", "add", "lm2", "--kind", "ollama", "--url", "http://127.0.0.1:8080/v1")
    assert added.returncode == 0 and "ends in /v1, the OpenAI-style path" in added.stderr
    assert "provider add lm2 --kind openai --url http://127.0.0.1:8080/v1" in added.stderr
    plain = cli(data_dir, "provider", "add", "box", "--kind", "ollama", "--url", "http://127.0.0.1:11434")
    assert plain.returncode == 0 and plain.stderr == ""


def test_a_data_dir_that_is_a_file_is_one_clear_line(tmp_path: Path) -> None:
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    result = cli(afile, "status")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"heartbeat-desktop: error: {afile} (HEARTBEAT_DATA_DIR) is a file, not a folder: point HEARTBEAT_DATA_DIR "
        "at a folder, or move the file aside"
    ]
    assert "Errno" not in result.stderr
    tray = cli(afile, env={"QT_QPA_PLATFORM": "offscreen"})  # the tray app's start says it once too
    assert tray.returncode == 1 and len(tray.stderr.strip().splitlines()) == 1, tray.stderr


def test_a_relative_data_dir_is_the_same_folder_wherever_the_app_starts(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    probe = (
        "import os, sys; from heartbeat_desktop import paths; paths.settle_data_dir_env(); "
        "os.chdir(sys.argv[1]); print(os.environ['HEARTBEAT_DATA_DIR']); print(paths.data_dir())"
    )
    environ = {**os.environ, "HEARTBEAT_DATA_DIR": "profile", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "home")], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    assert out.stdout.splitlines() == [str(tmp_path / "profile")] * 2, out.stderr
    assert (tmp_path / "profile").is_dir() and not (tmp_path / "home" / "profile").exists()


def test_a_dangling_heartbeat_md_link_is_never_written_through(data_dir: Path, tmp_path: Path) -> None:
    from heartbeat_desktop.files import atomic_write

    workspace = tmp_path / "ws"
    workspace.mkdir()
    outside = tmp_path / "elsewhere" / "HEARTBEAT.md"
    outside.parent.mkdir()
    (workspace / "HEARTBEAT.md").symlink_to(outside)
    added = cli(data_dir, "threads", "add", "ws", "--workspace", str(workspace))
    assert added.returncode == 0 and "nothing was written through it" in added.stderr
    assert not outside.exists()
    with pytest.raises(OSError, match="which does not exist"):
        atomic_write(workspace / "HEARTBEAT.md", "# mine")
    assert not outside.exists()

    folder = tmp_path / "ws2"
    (folder / "HEARTBEAT.md").mkdir(parents=True)
    refused = cli(data_dir, "threads", "add", "ws2", "--workspace", str(folder))
    assert refused.returncode == 2 and "HEARTBEAT.md is a folder, not a file" in refused.stderr
    assert "ws2" not in cli(data_dir, "threads", "list").stdout


def test_settings_and_config_say_their_bounds_and_the_default_model_in_words(data_dir: Path) -> None:
    for args, said in (
        (("config", "set", "every_seconds", "10"), "every_seconds must be a whole number from 60 to 86400, not 10"),
        (("config", "set", "temperature", "3"), "temperature must be a number from 0 to 1, not 3"),
        (("settings", "set", "llm_timeout", "0"), "llm_timeout must be a number from 1 to 3600, not 0"),
    ):
        refused = cli(data_dir, *args)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "Input should" not in refused.stderr

    assert cli(data_dir, "config", "set", "model", "qwen3:4b").returncode == 0
    cleared = cli(data_dir, "config", "set", "model", "")
    assert cleared.returncode == 0 and cleared.stdout.strip() == "default: model = (the default model, llama3.2)"

    rows = [line for line in cli(data_dir, "settings", "get").stdout.splitlines() if line.strip()]
    values_at = {line.index(line.split()[1], len(line.split()[0])) for line in rows}
    assert len(values_at) == 1, rows  # keep_run_details_days no longer pushes its value out of the column


def test_replay_counts_runs_it_could_not_ask_in_english() -> None:
    from heartbeat_desktop.core.models import RunRecord
    from heartbeat_desktop.core.replay import ReplayResult
    from heartbeat_desktop.qt.windows.editor_views import replay_summary

    run = RunRecord.__new__(RunRecord)
    assert replay_summary(ReplayResult(not_replayable=[(run, "no prompt kept")])).endswith(
        "(1 run could not be asked again.)"
    )
    assert "(2 runs could not" in replay_summary(ReplayResult(not_replayable=[(run, "x"), (run, "y")]))
