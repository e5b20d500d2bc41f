"""What a 404 from a model server usually means, found out by asking the server once more.

The two most common mistakes with a server that is not Ollama both end in an HTTP 404 that, read literally,
sends the user the wrong way: an OpenAI-compatible base URL without its `/v1` ("has no model 'smollm2' —
pick a model from the list", though the model is there), and an OpenAI-compatible server added as
`--kind ollama` ("run `ollama pull smollm2`"). After such a 404, one short GET (llm/probe.py, standard
library, a few seconds at most) tells them apart, and the error then names the fix. Only ever on the error
path: a working server is never asked twice.
"""

from __future__ import annotations

from ..core.ports import LLMError
from . import probe

CHECK_S = 3.0


def _lists_models(base: str, who: str) -> bool:
    try:
        data = probe.get_json(base, "/models", CHECK_S, probe.TAGS_MAX_BYTES, who=who)
    except LLMError:
        return False
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def missing_v1(base_url: str, provider: str) -> LLMError | None:
    """An OpenAI-compatible provider whose URL lacks `/v1`, when the server answers there."""
    base = base_url.rstrip("/")
    if base.endswith("/v1") or not _lists_models(f"{base}/v1", provider):
        return None
    return LLMError(
        "http_error",
        f"{provider} has no API at {base}; it answers at {base}/v1",
        f"use that URL: heartbeat-desktop provider add {provider} --kind openai --url {base}/v1",
        status=404,
    )


def openai_not_ollama(host: str, provider: str) -> LLMError | None:
    """A provider added as `--kind ollama` whose server speaks only the OpenAI protocol (Ollama itself
    answers both: its /api/version decides)."""
    base = host.rstrip("/")
    try:
        probe.version(base, CHECK_S, who=provider)
        return None  # an Ollama: the 404 meant what it said
    except LLMError:
        pass
    # The URL may already end in /v1 (an OpenAI base URL pasted as it is): the server's list is then right here.
    api = base if base.endswith("/v1") else f"{base}/v1"
    if not _lists_models(api, provider):
        return None
    own = provider.lower() == "ollama"  # the app's own Ollama host, not a provider the user added
    name = "NAME" if own else provider
    where = "point the Ollama host at an Ollama server, or add this one as a provider" if own else "add it again"
    return LLMError(
        "http_error",
        f"the server at {base} speaks the OpenAI protocol, not Ollama's",
        f"{where}: heartbeat-desktop provider add {name} --kind openai --url {api}",
        status=404,
    )
