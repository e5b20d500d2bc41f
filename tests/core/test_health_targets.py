"""Which model servers the health check asks (#24): the ones some enabled thread's model uses, once each."""

from __future__ import annotations

from heartbeat_desktop.core.providers import OLLAMA, HealthTarget, Provider, health_targets, split_model

LLAMA = Provider("llama", "openai", "http://127.0.0.1:8000/v1")
OPENAI = Provider("openai", "openai", "https://api.openai.com/v1", builtin=True)
OLLAMA_URL = "http://127.0.0.1:11434"


def test_only_an_openai_compatible_server_in_use_leaves_ollama_alone() -> None:
    targets = health_targets(["llama:smollm2", "llama:smollm2"], [LLAMA, OPENAI], OLLAMA_URL)
    assert targets == [HealthTarget("llama", "openai", "http://127.0.0.1:8000/v1")]
    assert targets[0].label == "llama"


def test_only_ollama_and_both() -> None:
    assert health_targets(["qwen3:4b"], [LLAMA, OPENAI], OLLAMA_URL) == [HealthTarget(OLLAMA, "ollama", OLLAMA_URL)]
    both = health_targets(["qwen3:4b", "llama:smollm2", "ollama:llama3.2"], [LLAMA, OPENAI], OLLAMA_URL)
    assert [(t.provider, t.label) for t in both] == [(OLLAMA, "Ollama"), ("llama", "llama")]


def test_a_prefix_that_is_no_provider_is_an_ollama_tag() -> None:
    assert split_model("qwen3:4b", {"llama"}) == (OLLAMA, "qwen3:4b")
    assert split_model("llama:smollm2", {"llama"}) == ("llama", "smollm2")
    assert health_targets(["lama:smollm2"], [LLAMA], OLLAMA_URL) == [HealthTarget(OLLAMA, "ollama", OLLAMA_URL)]
    assert health_targets([], [LLAMA], OLLAMA_URL) == []  # no enabled thread: nothing to ask
