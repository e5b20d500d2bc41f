"""Recognising "the prompt does not fit this model's context window", and learning the window from it.

Local servers often run small windows (llama-cpp-python's server: 2048 tokens by default). A prompt that
fits today stops fitting as the feed grows, and every heartbeat then fails the same way. Servers say so
in their own words, most with the number: OpenAI, vLLM and llama-cpp-python "maximum context length is
2048 tokens"; llama.cpp's server an `exceed_context_size_error` with `n_ctx`. The client turns that into
a `context_overflow` error carrying the window; the runner rebuilds the prompt to fit and asks again,
and the window is remembered so later runs fit from the start.
"""

from __future__ import annotations

import re

from ..core.ports import LLMError

_OVERFLOW = re.compile(
    r"context (length|size|window)|exceed_context_size|n_ctx|too many tokens|prompt is too long|input length",
    re.I,
)
_LIMIT = (
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"\"?n_ctx\"?\s*[:=]\s*(\d+)", re.I),
    re.compile(r"context (?:length|size|window)(?: of| is)? (\d+)", re.I),
)


def window_in(text: str) -> int | None:
    for pattern in _LIMIT:
        found = pattern.search(text)
        if found:
            value = int(found.group(1))
            if 256 <= value <= 10_000_000:
                return value
    return None


def overflow_error(server: str, detail: str, status: int | None) -> LLMError | None:
    """A `context_overflow` LLMError when `detail` says the prompt did not fit; None otherwise."""
    if not _OVERFLOW.search(detail):
        return None
    limit = window_in(detail)
    size = f" ({limit} tokens)" if limit else ""
    return LLMError(
        "context_overflow",
        f"the prompt does not fit the model's context window{size} on {server}",
        "lower context_tokens (heartbeat-desktop settings set context_tokens N), or use a model with a larger window",
        status=status,
        detail=detail,
        limit=limit,
    )
