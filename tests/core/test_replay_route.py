"""Which model and provider replay asks for a recorded run (#27 item 8): the one that answered it."""

from __future__ import annotations

import pytest

from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.replay import NotReplayable, model_for


def _run(model: str, provider: str | None) -> RunRecord:
    inputs = {"provider": provider} if provider else {}
    return RunRecord("r1", "default", "manual", False, 0.0, status="ok", model=model, inputs=inputs)


def test_each_run_is_asked_of_its_own_provider() -> None:
    assert model_for(_run("llama:smollm2", "llama"), None, "llama3.2", {"ollama", "llama"}) == (
        "llama:smollm2",
        "llama",
    )
    assert model_for(_run("qwen3:4b", "ollama"), None, "llama3.2", {"ollama"}) == ("qwen3:4b", "ollama")
    # a provider named like the tag's prefix, added after the run: the run was Ollama's, and stays so
    assert model_for(_run("qwen3:4b", "ollama"), None, "llama3.2", {"ollama", "qwen3"}) == ("ollama:qwen3:4b", "ollama")
    # --model wins, routed as it reads now; a run from before the provider was recorded is taken as it reads
    assert model_for(_run("llama:smollm2", "llama"), "qwen3:4b", "x", {"ollama", "llama"}) == ("qwen3:4b", "ollama")
    assert model_for(_run("llama:smollm2", None), None, "x", {"ollama", "llama"}) == ("llama:smollm2", "llama")


def test_a_run_whose_provider_was_removed_says_so() -> None:
    with pytest.raises(NotReplayable, match="on provider 'llama', which no longer exists"):
        model_for(_run("llama:smollm2", "llama"), None, "llama3.2", {"ollama"})
    # unless another model is asked for
    assert model_for(_run("llama:smollm2", "llama"), "llama3.2", "x", {"ollama"}) == ("llama3.2", "ollama")
