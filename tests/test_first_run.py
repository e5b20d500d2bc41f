"""Storing what was picked in the first-run window or `setup` (first_run.choose): as Settings and `provider add`
store it, so nothing assumes Ollama, and never redirecting a provider someone already has."""

from __future__ import annotations

from heartbeat_desktop import first_run
from heartbeat_desktop.core.providers import split_model
from heartbeat_desktop.llm.discover import FoundServer
from heartbeat_desktop.store import SqliteStore


def _lmstudio(port: int) -> FoundServer:
    address = f"http://127.0.0.1:{port}"
    return FoundServer(address, "openai", "LM Studio", address + "/v1", "lmstudio", ("qwen",))


def test_an_openai_compatible_server_becomes_a_provider_and_the_default_model(store: SqliteStore) -> None:
    store.threads.create("own", "Own model")
    store.threads.set_config("own", store.threads.require("own").config.model_copy(update={"model": "llama3.2:1b"}))
    chosen = first_run.choose(store, _lmstudio(1234), "qwen")
    assert chosen.own_models == ("Own model keeps its own model llama3.2:1b",)
    assert chosen.model == "lmstudio:qwen" and chosen.provider == "lmstudio"
    assert store.providers.get("lmstudio").base_url == "http://127.0.0.1:1234/v1"
    assert store.settings.app().default_model == "lmstudio:qwen" and store.settings.app().ollama_host is None
    assert split_model(store.settings.app().default_model, ["lmstudio"]) == ("lmstudio", "qwen")
    assert first_run.done(store)


def test_a_second_server_of_the_same_kind_gets_a_name_of_its_own(store: SqliteStore) -> None:
    store.providers.save("lmstudio", "openai", "http://gpu-box:1234/v1")
    chosen = first_run.choose(store, _lmstudio(1234), "qwen")
    assert chosen.provider == "lmstudio2" and chosen.model == "lmstudio2:qwen"
    assert store.providers.get("lmstudio").base_url == "http://gpu-box:1234/v1"  # never redirected
    again = first_run.choose(store, _lmstudio(1234), "qwen")
    assert again.provider == "lmstudio2"  # the same server again: the same entry


def test_an_ollama_is_the_apps_ollama_and_a_tag_that_reads_as_a_provider_is_marked(store: SqliteStore) -> None:
    store.providers.save("gpu", "openai", "http://gpu-box:8000/v1")
    ollama = FoundServer("http://127.0.0.1:5555", "ollama", "Ollama", "http://127.0.0.1:5555", "ollama", ("gpu:7b",))
    chosen = first_run.choose(store, ollama, "gpu:7b")
    assert chosen.model == "ollama:gpu:7b" and chosen.provider == "ollama"
    assert store.settings.app().ollama_host == "http://127.0.0.1:5555"
    assert split_model(chosen.model, ["gpu"]) == ("ollama", "gpu:7b")
