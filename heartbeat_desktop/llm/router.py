"""Route a thread's model to its provider: `ollama:llama3.2`, `anthropic:claude-3-haiku-20240307`,
`openai:gpt-4o-mini`, `gpubox:qwen3:8b`; a bare name (`llama3.2`, `llama3.2:latest`) means the app's Ollama.

A prefix counts as a provider only if such a provider exists, so Ollama's own `name:tag` models keep
working. Keys go only into request headers, and are asked for only where one was stored: a keyless
provider (plain Ollama, a local OpenAI-compatible server) sends no Authorization header and never
touches the keyring. The built-in hosted services (openai, anthropic) need a key; without one the run
fails at once, saying how to set it. A key lookup takes part of the run's timeout, never more.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from ..core.ports import LLMClient, LLMError, LLMReply, LLMRequest, ProviderClient, SecretsUnavailable
from ..core.providers import OLLAMA, Provider, gone_provider, gone_provider_error, key_can_be_sent, split_model
from .hosts import resolve_host
from .server_gate import PROCESS_GATE, ServerGate
from .server_memory import ServerMemory

log = logging.getLogger(__name__)

KEY_WAIT_S = 10.0  # the longest a run waits for the keyring (less when its own timeout is shorter)


class KeySource(Protocol):
    def key(self, provider: str, timeout_s: float) -> str | None:
        """The provider's key, None if it has none. Raises (SecretsUnavailable) if one exists but cannot be
        read within `timeout_s`."""
        ...


class ModelRouter:
    """An LLMClient that picks the provider per request."""

    def __init__(
        self,
        providers: list[Provider],
        ollama_host: str | None,
        keys: KeySource,
        memory: ServerMemory | None = None,
        keep_alive: int | str | None = None,
        removed: Iterable[str] = (),
        gate: ServerGate = PROCESS_GATE,
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._gate = gate  # one call at a time per local server, across the process (llm/server_gate.py)
        self._cancelled = threading.Event()
        self._removed = frozenset(removed)  # providers removed since: their models fail, never go to Ollama
        self._keep_alive = keep_alive
        self._ollama_host = ollama_host
        self._keys = keys
        self._memory = memory
        self._current: LLMClient | None = None
        self.host = resolve_host(ollama_host)

    def client_for(self, provider: str, key_wait_s: float = KEY_WAIT_S) -> ProviderClient:
        # The clients (httpx, the ollama library) are imported here, by the first call that needs one.
        from .anthropic_client import AnthropicClient
        from .ollama_client import OllamaClient
        from .openai_client import OpenAICompatibleClient

        if provider == OLLAMA:
            key = self._key(OLLAMA, required=False, wait_s=key_wait_s)
            return OllamaClient(self._ollama_host, api_key=key, memory=self._memory, keep_alive=self._keep_alive)
        spec = self._providers.get(provider)
        if spec is None:
            raise LLMError("model_not_found", f"no provider {provider!r}", "add it: heartbeat-desktop provider add")
        # The hosted services cannot work without a key; a provider the user added may be a local server.
        key = self._key(provider, required=spec.builtin, wait_s=key_wait_s)
        if spec.kind == "ollama":
            return OllamaClient(
                spec.base_url, api_key=key, name=provider, memory=self._memory, keep_alive=self._keep_alive
            )
        if spec.kind == "anthropic":
            return AnthropicClient(provider, spec.base_url, key, self._memory)
        return OpenAICompatibleClient(provider, spec.base_url, key, self._memory)

    def _key(self, provider: str, *, required: bool, wait_s: float) -> str | None:
        try:
            key = self._keys.key(provider, wait_s)
        except SecretsUnavailable as exc:  # no keyring, or it did not answer in time: never holds a key
            raise LLMError(
                "auth",
                f"the API key for {provider} could not be read: {exc}",
                exc.hint.replace("NAME", provider) or "unlock your keyring (or answer its dialog), then run again",
            ) from None
        if required and not key:
            raise LLMError(
                "auth", f"no API key set for {provider}", f"set one: heartbeat-desktop provider set-key {provider}"
            )
        if key is not None and not key_can_be_sent(key):
            raise LLMError(
                "auth",
                f"the API key stored for {provider} has characters no HTTP header can carry",
                f"store it again: heartbeat-desktop provider set-key {provider}",
            )
        return key

    def chat(self, request: LLMRequest) -> LLMReply:
        gone = gone_provider(request.model, self._providers, self._removed)
        if gone is not None:
            raise LLMError("model_not_found", *gone_provider_error(gone))
        provider, model = split_model(request.model, set(self._providers))
        self._cancelled.clear()
        started = time.monotonic()
        client = self.client_for(provider, key_wait_s=min(KEY_WAIT_S, request.timeout_s))
        left = request.timeout_s - (time.monotonic() - started)
        if left <= 0:
            raise LLMError("timeout", f"no time left for {provider} after waiting for the keyring")
        log.debug(
            "Asking %s for model %s (%d + %d prompt characters, max_tokens=%d, timeout %.0f s)",
            provider,
            model,
            len(request.system),
            len(request.prompt),
            request.max_tokens,
            left,
        )
        spec = self._providers.get(provider)
        if spec is not None and spec.builtin:  # a hosted service serves many callers at once
            return self._ask(client, provider, dataclasses.replace(request, model=model, timeout_s=left))
        url = self.host if provider == OLLAMA or spec is None else spec.base_url
        with self._gate.hold(url, provider, left, self._cancelled.is_set) as left:
            return self._ask(client, provider, dataclasses.replace(request, model=model, timeout_s=left))

    def _ask(self, client: ProviderClient, provider: str, request: LLMRequest) -> LLMReply:
        self._current = client
        try:
            if self._cancelled.is_set():  # cancelled while it waited for its turn at the server
                raise LLMError("cancelled", "the request was cancelled")
            return dataclasses.replace(client.chat(request), provider=provider)
        finally:
            self._current = None

    def context_window(self, model: str) -> int | None:
        """What the provider's server reported as `model`'s window, without a key or a request."""
        if self._memory is None:
            return None
        provider, name = split_model(model, set(self._providers))
        url = self.host if provider == OLLAMA else self._providers[provider].base_url.rstrip("/")
        return self._memory.recall_window(provider, url, name)

    def cancel(self) -> None:
        self._cancelled.set()  # a call waiting for its turn at the server gives up too
        client = self._current
        if client is not None:
            client.cancel()

    def version(self) -> str:
        from .ollama_client import OllamaClient

        return OllamaClient(self._ollama_host).version()
