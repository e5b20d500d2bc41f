"""Route a thread's model to its provider: `ollama:llama3.2`, `anthropic:claude-3-haiku-20240307`,
`openai:gpt-4o-mini`, `gpubox:qwen3:8b`; a bare name (`llama3.2`, `llama3.2:latest`) means the app's Ollama.

A prefix counts as a provider only if such a provider exists, so Ollama's own `name:tag` models keep
working. Keys come from the secrets store at the moment of the call and go only into request headers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from ..core.ports import LLMClient, LLMError, LLMReply, LLMRequest
from ..store.providers import Provider
from .anthropic_client import AnthropicClient
from .ollama_client import OllamaClient
from .openai_client import OpenAICompatibleClient

log = logging.getLogger(__name__)

OLLAMA = "ollama"


def split_model(model: str, providers: set[str]) -> tuple[str, str]:
    """(provider, model) for a configured model string."""
    prefix, sep, rest = model.partition(":")
    if sep and rest and (prefix == OLLAMA or prefix in providers):
        return prefix, rest
    return OLLAMA, model


class ModelRouter:
    """An LLMClient that picks the provider per request."""

    def __init__(
        self,
        providers: list[Provider],
        ollama_host: str | None,
        key_for: Callable[[str], str | None],
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._ollama_host = ollama_host
        self._key_for = key_for
        self._current: LLMClient | None = None
        self.host = OllamaClient(ollama_host).host

    def client_for(self, provider: str) -> LLMClient:
        if provider == OLLAMA:
            return OllamaClient(self._ollama_host, api_key=self._key(OLLAMA, required=False))
        spec = self._providers.get(provider)
        if spec is None:
            raise LLMError("model_not_found", f"no provider {provider!r}", "add it: heartbeat-desktop provider add")
        if spec.kind == "ollama":
            return OllamaClient(spec.base_url, api_key=self._key(provider, required=False))
        key = self._key(provider, required=True)
        if spec.kind == "anthropic":
            return AnthropicClient(provider, spec.base_url, key)
        return OpenAICompatibleClient(provider, spec.base_url, key)

    def _key(self, provider: str, *, required: bool) -> str | None:
        try:
            key = self._key_for(provider)
        except Exception as exc:  # SecretsUnavailable, a locked keyring: the message never holds a key
            if not required:
                return None
            raise LLMError("auth", f"no API key for {provider}: {exc}") from None
        if required and not key:
            raise LLMError(
                "auth", f"no API key set for {provider}", f"set one: heartbeat-desktop provider set-key {provider}"
            )
        return key

    def chat(self, request: LLMRequest) -> LLMReply:
        provider, model = split_model(request.model, set(self._providers))
        client = self.client_for(provider)
        log.debug(
            "Asking %s for model %s (%d + %d prompt characters, max_tokens=%d, timeout %.0f s)",
            provider,
            model,
            len(request.system),
            len(request.prompt),
            request.max_tokens,
            request.timeout_s,
        )
        self._current = client
        try:
            return client.chat(dataclasses.replace(request, model=model))
        finally:
            self._current = None

    def cancel(self) -> None:
        client = self._current
        if client is not None and hasattr(client, "cancel"):
            client.cancel()

    def version(self) -> str:
        return OllamaClient(self._ollama_host).version()
