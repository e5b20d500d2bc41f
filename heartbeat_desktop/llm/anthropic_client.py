"""Anthropic's Messages API. Structured output by forcing one tool whose input schema is the decision.

A tool's `input_schema` must be an object, so the decision's `anyOf` travels wrapped as `{"decision": …}`
(`DecisionSchema.for_anthropic`) and is unwrapped from the tool input.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.decision_schema import unwrap
from ..core.ports import LLMError, LLMReply, LLMRequest
from ..core.present import count_of
from .http_json import HostedClient
from .server_text import token_count

API_VERSION = "2023-06-01"
TOOL = "record_decision"


class AnthropicClient(HostedClient):
    kind = "anthropic"

    def _headers(self) -> dict[str, str]:
        headers = {**super()._headers(), "anthropic-version": API_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def chat(self, request: LLMRequest) -> LLMReply:
        self._cancel.clear()
        body: dict[str, Any] = {
            "model": request.model,
            "system": request.system,
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.schema is not None:
            body["tools"] = [
                {
                    "name": TOOL,
                    "description": "Record the heartbeat's one decision.",
                    "input_schema": request.schema.for_anthropic(),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": TOOL}
        data = self._post("/v1/messages", body, request)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent no content")
        blocks = [b for b in blocks if isinstance(b, dict)]
        tools = [b for b in blocks if b.get("type") == "tool_use"]
        if any(b.get("name") != TOOL for b in tools):  # only the tool it was given may answer
            raise LLMError("invalid_reply", f"invalid reply: {self.name} answered with a tool it was not given")
        inputs = [b.get("input") for b in tools]
        if len({json.dumps(i, sort_keys=True, default=str) for i in inputs}) > 1:
            # The tool is forced once; two different decisions leave which one counts to a guess.
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent {len(inputs)} different decisions")
        tool_input = inputs[0] if inputs else None
        texts = [b.get("text") for b in blocks if b.get("type") == "text"]
        if not all(isinstance(t, str) for t in texts):
            raise LLMError("invalid_reply", f"invalid reply: {self.name} sent a text block that is not text")
        text = "".join(t for t in texts if isinstance(t, str))
        thinking = "".join(t for b in blocks if b.get("type") == "thinking" and isinstance(t := b.get("thinking"), str))
        sent_usage = data.get("usage")
        usage: dict[str, Any] = sent_usage if isinstance(sent_usage, dict) else {}
        stop = data.get("stop_reason") if isinstance(data.get("stop_reason"), str) else None
        return LLMReply(
            content=self._clean(
                json.dumps(unwrap(tool_input), ensure_ascii=False) if isinstance(tool_input, dict) else text
            )
            or "",
            thinking=self._clean(thinking) or None,
            done_reason="length" if stop == "max_tokens" else stop,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            prompt_tokens=token_count(usage.get("input_tokens")),
            completion_tokens=token_count(usage.get("output_tokens")),
        )

    def list_models(self, timeout_s: float = 10.0) -> list[str]:
        return self._models("/v1/models", timeout_s)

    def version(self, timeout_s: float = 5.0) -> str:
        return f"Anthropic API, {count_of(len(self.list_models(timeout_s)), 'model')}"
