"""Any OpenAI-compatible chat-completions endpoint: OpenAI, LM Studio, llama.cpp's server, vLLM, Groq…

The reply is constrained in the best way the server accepts (see `output_format.py`): `response_format:
json_schema` with the lengths bounded (llama.cpp's server, LM Studio, vLLM: they enforce them), else in
OpenAI's strict subset (OpenAI, where the ladder starts; the schema wrapped in an object, as strict mode
requires), else `json_object` carrying the schema (llama-cpp-python's server and others that build a
grammar from it), else the prompt's instructions alone. The runner validates the answer whichever way it
came.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..core.ports import LLMError, LLMReply, LLMRequest
from ..core.present import count_of
from .diagnose import missing_v1
from .http_json import HostedClient
from .output_format import OPENAI_HOSTED_LADDER, OPENAI_LADDER, unwrap_text, walk
from .server_text import text_of, token_count

SCHEMA_NAME = "heartbeat_decision"
OPENAI_HOST = "api.openai.com"


def ladder_for(base_url: str) -> tuple[str, ...]:
    """OpenAI's own API starts at its strict subset; every other server at the bounded shape."""
    return OPENAI_HOSTED_LADDER if (urlsplit(base_url).hostname or "").lower() == OPENAI_HOST else OPENAI_LADDER


class OpenAICompatibleClient(HostedClient):
    kind = "openai"

    def _diagnose(self, error: LLMError) -> LLMError | None:
        return missing_v1(self.host, self.name)

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def chat(self, request: LLMRequest) -> LLMReply:
        self._cancel.clear()
        if request.schema is None:
            return self._ask(request, "prompt", self._deadline(request))
        deadline = self._deadline(request)
        return walk(
            ladder_for(self.host),
            provider=self.name,
            base_url=self.host,
            memory=self._memory,
            deadline=deadline,
            attempt=lambda fmt, _left: self._ask(request, fmt, deadline),
        )

    def _ask(self, request: LLMRequest, fmt: str, deadline: float) -> LLMReply:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None and fmt in ("json_schema", "json_schema_bounded"):
            schema = (
                request.schema.for_openai_bounded()
                if fmt == "json_schema_bounded"
                else request.schema.for_openai_strict()
            )
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema},
            }
        elif request.schema is not None and fmt == "json_object":
            body["response_format"] = {"type": "json_object", "schema": request.schema.for_ollama()}
        data = self._post("/chat/completions", body, request, deadline)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent no choices")
        messages = [c.get("message") if isinstance(c.get("message"), dict) else {} for c in choices]
        texts = [text_of(m.get("content")) if m.get("content") is not None else "" for m in messages]
        if texts[0] is None:
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent content that is not text")
        if len({t for t in texts if t is not None}) > 1:
            # One was asked for (n is never sent): which of several different answers counts would be a guess.
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent {len(texts)} different answers")
        choice, message = choices[0], messages[0]
        sent_usage = data.get("usage")
        usage: dict[str, Any] = sent_usage if isinstance(sent_usage, dict) else {}
        finish = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
        content = self._clean(texts[0]) or ""
        return LLMReply(
            content=unwrap_text(content) if fmt.startswith("json_schema") else content,
            thinking=self._clean(text_of(message.get("reasoning_content"))),
            done_reason="length" if finish == "length" else finish,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            prompt_tokens=token_count(usage.get("prompt_tokens")),
            completion_tokens=token_count(usage.get("completion_tokens")),
        )

    def list_models(self, timeout_s: float = 10.0) -> list[str]:
        return self._models("/models", timeout_s)

    def version(self, timeout_s: float = 5.0) -> str:
        return f"OpenAI-compatible, {count_of(len(self.list_models(timeout_s)), 'model')}"
