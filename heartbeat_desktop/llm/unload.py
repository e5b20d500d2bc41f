""" "Unload models now": free what the model servers the threads use hold, and say plainly what cannot be freed.

Only the servers some thread's model names are acted on (`core.providers.health_targets`, the same list the
health check asks): a user whose threads all use a llama.cpp server and who has no Ollama must never be told
"cannot reach Ollama" for pressing the button (found living with the app: it did exactly that).

What each kind of server allows:
- Ollama (the app's own, or a provider of kind `ollama`) frees a model when asked with `keep_alive` 0, so
  every model it holds is unloaded (`OllamaClient.unload_all`).
- An OpenAI-compatible server (llama.cpp's `llama-server`, LM Studio, vLLM, llama-cpp-python) has no call
  that unloads: its model stays loaded as long as the server runs. That is said per server, by the name the
  first-run look knows it by ("llama.cpp server on :8080 keeps its model loaded; stop the server to free its
  memory"); a server that does not answer holds nothing, and is said not to be running.
- A hosted service (Anthropic, OpenAI's API, any https server elsewhere) loads nothing on this computer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..core.ports import LLMError
from ..core.providers import BUILTIN, HealthTarget
from . import discover

IDENTIFY_S = 2.0  # what the first-run look gives an address: a server that says nothing is not waited for


class Unloader(Protocol):
    def unload_all(self) -> list[str]: ...


@dataclass(frozen=True)
class Unloaded:
    """What happened at one server, in a line a person reads (the notification, `unload-models`)."""

    line: str
    failed: bool = False  # an Ollama that should have freed its models and could not be asked
    freed: tuple[str, ...] = ()
    ollama: bool = False  # the server could unload (whether or not it held anything)


def unload(
    targets: Sequence[HealthTarget],
    ollama: Callable[[HealthTarget], Unloader],
    identify: Callable[[str, float], discover.FoundServer] = discover.identify,
) -> list[Unloaded]:
    """Unload every model of each Ollama in `targets`; for every other server, say why nothing is freed."""
    return [_ollama(t, ollama) if t.kind == "ollama" else _other(t, identify) for t in targets]


def _ollama(target: HealthTarget, client: Callable[[HealthTarget], Unloader]) -> Unloaded:
    where = "Ollama" if target.label == "Ollama" else f"{target.label} (Ollama)"
    where = f"{where} at {target.url}"
    try:
        names = client(target).unload_all()
    except LLMError as exc:
        return Unloaded(f"{where}: {exc}", failed=True, ollama=True)
    said = f"unloaded {', '.join(names)}" if names else "no model was loaded"
    return Unloaded(f"{where}: {said}", freed=tuple(names), ollama=True)


def _other(target: HealthTarget, identify: Callable[[str, float], discover.FoundServer]) -> Unloaded:
    parts = urlsplit(target.url)
    host = parts.hostname or target.url
    if target.kind == "anthropic" or target.provider in BUILTIN or (parts.scheme == "https" and not _local(host)):
        return Unloaded(f"{target.label} ({host}) is a hosted service: nothing of it is loaded on this computer")
    address = target.url.rstrip("/").removesuffix("/v1")
    label = f"{target.label} at {target.url}"
    try:
        found = identify(address, IDENTIFY_S)
    except LLMError as exc:
        if exc.kind in ("unreachable", "timeout"):
            return Unloaded(f"{label} is not running, so it holds no model")
    else:
        if found.product is not None:
            label = found.label if _local(host) else f"{found.product} at {parts.netloc}"
    return Unloaded(f"{label} keeps its model loaded; stop the server to free its memory")


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def summary(results: Sequence[Unloaded]) -> tuple[str, str, bool]:
    """(title, body, critical) of the notification that answers the button."""
    if not results:
        return "Nothing to unload", "No thread uses a model server.", False
    body = "\n".join(r.line for r in results)
    if any(r.failed for r in results):
        return "Could not unload the models", body, True
    if any(r.freed for r in results):
        return "Models unloaded", body, False
    if all(r.ollama for r in results):
        return "No model was loaded", body, False
    return "Nothing was unloaded", body, False
