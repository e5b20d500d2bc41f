"""Any OpenAI-compatible chat-completions endpoint: OpenAI, LM Studio, llama.cpp server, vLLM, Groq…

Structured output through `response_format: json_schema` (servers that ignore it still get the JSON
instruction in the prompt; the runner validates either way).
"""

from __future__ import annotations

from typing import Any

from ..core.ports import LLMError, LLMReply, LLMRequest
from .http_json import HostedClient


class OpenAICompatibleClient(HostedClient):
    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def chat(self, request: LLMRequest) -> LLMReply:
        self._cancel.clear()
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "heartbeat_decision", "schema": request.schema},
            }
        data = self._post("/chat/completions", body, request)
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent no choices") from None
        usage = data.get("usage") or {}
        finish = choice.get("finish_reason")
        return LLMReply(
            content=content,
            thinking=choice["message"].get("reasoning_content"),
            done_reason="length" if finish == "length" else finish,
            model=data.get("model"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    def list_models(self, timeout_s: float = 10.0) -> list[str]:
        return self._models("/models", timeout_s)

    def version(self, timeout_s: float = 5.0) -> str:
        return f"OpenAI-compatible, {len(self.list_models(timeout_s))} models"
