"""Which way of constraining the reply a server accepts: tried best first, learned once, remembered.

Servers that speak the same protocol differ in what they accept. OpenAI takes `response_format:
json_schema`; llama-cpp-python's server refuses it (HTTP 500, "Input should be 'text' or 'json_object'")
but takes `json_object` with a schema; others take neither. Ollama before 0.5 takes `format: "json"` but
no schema. Failing every heartbeat on such a server helps nobody, so a client walks down its ladder —
the best format first, the next one when the server *refuses the format* — within the same run and its
deadline, and the provider's answer is remembered (`ServerMemory`) so later runs start at what works.
A refusal is recorded as a notice on the run, so the user can see that, and why, a weaker format is used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable

from ..core.decision_schema import unwrap
from ..core.json_keys import one_value_per_key
from ..core.ports import LLMError, LLMReply
from .server_memory import ServerMemory

log = logging.getLogger(__name__)

OLLAMA_LADDER = ("schema", "json", "prompt")
OPENAI_LADDER = ("json_schema_bounded", "json_schema", "json_object", "prompt")
# OpenAI's own API refuses length keywords in strict mode: asking with them first would cost every user of it
# a refused request and a notice on their first run.
OPENAI_HOSTED_LADDER = OPENAI_LADDER[1:]

# A server error counts as "I do not accept this output format" only when it says so. Errors about the
# prompt's size or a model still loading mention neither, and must not downgrade a server for good.
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar|sampling context|format", re.I)
_NOT_ABOUT_FORMAT = re.compile(r"context (length|size|window)|n_ctx|too (long|many tokens)|loading|overloaded", re.I)


def refuses_format(exc: LLMError) -> bool:
    """Did the server refuse the *output format* (rather than fail for another reason)?"""
    if exc.kind != "http_error" or exc.status not in (-1, 400, 422, 500, 501):
        return False
    return bool(_FORMAT_WORDS.search(exc.detail)) and not _NOT_ABOUT_FORMAT.search(exc.detail)


def walk(
    ladder: tuple[str, ...],
    *,
    provider: str,
    base_url: str,
    memory: ServerMemory | None,
    deadline: float,
    attempt: Callable[[str, float], LLMReply],
) -> LLMReply:
    """Ask with the remembered (or best) format; on a format refusal, the next one, until `deadline`.

    `attempt(fmt, seconds_left)` sends one request. Errors other than a format refusal end the walk at
    once; so does the last rung's failure, whose message then says which formats were refused before.
    """
    remembered = memory.recall_format(provider, base_url) if memory is not None else None
    start = ladder.index(remembered) if remembered in ladder else 0
    refused: list[tuple[str, LLMError]] = []
    for fmt in ladder[start:]:
        left = deadline - time.monotonic()
        if refused and left <= 0.5:
            break
        try:
            reply = attempt(fmt, max(left, 0.1))
        except LLMError as exc:
            if not (refuses_format(exc) and fmt != ladder[-1]):
                if refused:
                    exc.message += f" (after it refused the output format {_names(refused)})"
                raise
            log.info("%s at %s refused the output format %s: %s", provider, base_url, fmt, exc.detail or exc)
            refused.append((fmt, exc))
            continue
        notices: tuple[str, ...] = ()
        if refused:
            if memory is not None:
                memory.learn_format(provider, base_url, fmt)
            notices = (
                f"{provider} refused the output format {_names(refused)} ({_short(refused[0][1])}); the app "
                f"asked with {fmt} instead and will keep doing so for this server",
            )
        return dataclasses.replace(reply, output_format=fmt, notices=reply.notices + notices)
    last = refused[-1][1]
    raise LLMError(
        "timeout",
        f"{provider} refused the output format {_names(refused)} and the time ran out before another try",
        last.hint or "raise the timeout in Settings",
    )


def _names(refused: list[tuple[str, LLMError]]) -> str:
    names = [fmt for fmt, _ in refused]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _short(exc: LLMError) -> str:
    text = " ".join((exc.detail or exc.message).split())
    status = f"HTTP {exc.status}: " if exc.status and exc.status > 0 else ""
    return status + (text if len(text) <= 160 else text[:159] + "…")


def unwrap_text(content: str) -> str:
    """A reply to a wrapped schema (`{"decision": {…}}`) as the bare decision; other text unchanged."""
    try:
        # A key given twice (`{"decision": {…}, "decision": {…}}`) would be settled here by Python keeping the
        # last: left as it came instead, so the decision's own parser refuses it as ambiguous.
        value = json.loads(content, object_pairs_hook=one_value_per_key)
    except (ValueError, TypeError, RecursionError):  # the decision's own parser says what is wrong with it
        return content
    inner = unwrap(value)
    return content if inner is value else json.dumps(inner, ensure_ascii=False)
