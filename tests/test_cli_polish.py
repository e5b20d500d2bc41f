"""The command-line and API problems a new user's test found (#28), each through the real command line."""

from __future__ import annotations

from pathlib import Path

from heartbeat_desktop.core.providers import OLLAMA, HealthTarget, Provider, health_targets
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
