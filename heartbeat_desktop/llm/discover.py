"""Which model servers run on this computer, and what each serves: the first-run window's and `setup`'s look.

People run a model server on its usual local address: Ollama on 11434, LM Studio on 1234, llama.cpp's
server on 8080, llama-cpp-python and vLLM both on 8000. Each address is asked at once, on its own daemon
thread, with one short deadline for everything it is asked (`probe.get_json`: connect, headers and body), so
a port that accepts and never answers, or trickles, costs at most that deadline and never hangs the caller.

A server is known by what it answers, not by its port: Ollama by `/api/version` and `/api/tags`; an
OpenAI-compatible one by `/v1/models`, whose `owned_by` says which (llama.cpp's server "llamacpp", vLLM
"vllm", llama-cpp-python "me", LM Studio "organization_owner"), and llama.cpp's server also by `/props`.
When nothing tells, it is "an OpenAI-compatible server on :8000".

`HEARTBEAT_SETUP_ADDRESSES` (comma-separated base addresses) replaces the usual ones: tests run real servers
on free ports with it, and a person whose server listens elsewhere can name it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..core.ports import LLMError
from . import probe

ADDRESSES_ENV = "HEARTBEAT_SETUP_ADDRESSES"
USUAL_ADDRESSES = (
    "http://127.0.0.1:11434",  # Ollama
    "http://127.0.0.1:1234",  # LM Studio
    "http://127.0.0.1:8080",  # llama.cpp's server (llama-server)
    "http://127.0.0.1:8000",  # llama-cpp-python, vLLM
)
PER_ADDRESS_S = 2.0  # everything one address is asked, together
MODELS_MAX = 200  # a server listing more is shown with its first ones

# owned_by in /v1/models → (product, provider name it is stored under)
_OWNERS = {
    "llamacpp": ("llama.cpp server", "llamacpp"),
    "vllm": ("vLLM", "vllm"),
    "me": ("llama-cpp-python", "llamacpppy"),
    "organization_owner": ("LM Studio", "lmstudio"),
}
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class FoundServer:
    """A model server that answered: what it is, where, and the models it serves."""

    address: str  # as asked (http://127.0.0.1:1234)
    kind: str  # the protocol: "ollama" or "openai"
    product: str | None  # "Ollama", "LM Studio", … or None when nothing told
    base_url: str  # what a provider stores: the address for Ollama, address + /v1 for the others
    name: str  # the provider name it is stored under ("ollama" is the app's own)
    models: tuple[str, ...] = ()
    note: str = ""  # e.g. "asks for an API key to list its models"

    @property
    def port(self) -> str:
        return str(urlsplit(self.address).port or "")

    @property
    def label(self) -> str:
        """As a person reads it: "LM Studio on :1234", "OpenAI-compatible server on :8000"."""
        return f"{self.product or 'OpenAI-compatible server'} on :{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "label": self.label,
            "kind": self.kind,
            "product": self.product,
            "base_url": self.base_url,
            "provider": self.name,
            "models": list(self.models),
            "note": self.note,
        }


@dataclass(frozen=True)
class Look:
    """What one look found: the servers, and for each address that gave none, why (for the "nothing found"
    text and `setup --json`)."""

    servers: tuple[FoundServer, ...] = ()
    silent: dict[str, str] = field(default_factory=dict)  # address → why nothing is listed for it

    def to_dict(self) -> dict[str, Any]:
        return {"servers": [s.to_dict() for s in self.servers], "not_found": dict(self.silent)}


def addresses(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The addresses to ask: `HEARTBEAT_SETUP_ADDRESSES` when set, else the usual local ones."""
    text = (os.environ if environ is None else environ).get(ADDRESSES_ENV, "")
    given = tuple(a.strip().rstrip("/") for a in text.split(",") if a.strip())
    return given or USUAL_ADDRESSES


def look(where: tuple[str, ...] | None = None, per_address_s: float = PER_ADDRESS_S) -> Look:
    """Ask every address at once; return within about `per_address_s` whatever each said. An address still
    talking then (it cannot be: each exchange has that deadline) is reported as not answering in time."""
    targets = where if where is not None else addresses()
    results: dict[str, FoundServer | str] = {}
    lock = threading.Lock()

    def ask(address: str) -> None:
        try:
            found: FoundServer | str = identify(address, per_address_s)
        except LLMError as exc:
            found = _why(exc, per_address_s)
        except Exception as exc:  # a thread's error must not be lost: the address is then reported so
            found = f"could not be asked: {type(exc).__name__}"
        with lock:
            results[address] = found

    for address in dict.fromkeys(targets):  # "notaurl" was "nothing listens there": no address was ever asked
        if not _URL.match(address):
            results[address] = NOT_A_URL
    asked = [a for a in dict.fromkeys(targets) if a not in results]
    threads = [threading.Thread(target=ask, args=(a,), name="setup-look", daemon=True) for a in asked]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + per_address_s + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    servers: list[FoundServer] = []
    silent: dict[str, str] = {}
    with lock:
        for address in dict.fromkeys(targets):
            got = results.get(address, f"did not answer within {per_address_s:g} s")
            if isinstance(got, FoundServer):
                servers.append(got)
            else:
                silent[address] = got
    return Look(tuple(servers), silent)


NOT_A_URL = "not a URL: use http://host:port"
_URL = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[^\s/:?#\[\]]+)(:\d+)?(/\S*)?$", re.IGNORECASE)


def _why(exc: LLMError, per_address_s: float) -> str:
    if exc.kind == "unreachable":
        return "nothing listens there"
    if exc.kind == "timeout":
        return f"did not answer within {per_address_s:g} s"
    return probe_text(str(exc))


def probe_text(text: str) -> str:
    return " ".join(_UNPRINTABLE.sub(" ", text).split())[:200]


def identify(address: str, per_address_s: float = PER_ADDRESS_S) -> FoundServer:
    """What answers at `address`, and its models, within `per_address_s` in all. Raises LLMError when
    nothing does, or what answers is no model server."""
    deadline = time.monotonic() + per_address_s

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise LLMError("timeout", f"{address} did not answer within {per_address_s:g} s")
        return remaining

    ollama = _ollama(address, left)
    if ollama is not None:
        return ollama
    return _openai(address, left)


def _get(address: str, path: str, left: Any) -> Any:
    return probe.get_json(address, path, left(), probe.TAGS_MAX_BYTES, who="the server")


def _ollama(address: str, left: Any) -> FoundServer | None:
    """Ollama, if `/api/version` says so; its models from `/api/tags`. None for any other server (which
    answers 404 there, or something that is not Ollama's version); a dead address raises."""
    try:
        data = _get(address, "/api/version", left)
    except LLMError as exc:
        if exc.kind in ("unreachable", "timeout"):
            raise
        return None
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        return None
    models = probe.model_names(address, left())[:MODELS_MAX]
    return FoundServer(address, "ollama", "Ollama", address, "ollama", tuple(models))


def _openai(address: str, left: Any) -> FoundServer:
    base = address if address.endswith("/v1") else address + "/v1"
    try:
        data = _get(base, "/models", left)
    except LLMError as exc:
        if exc.status in (401, 403):
            note = "asks for an API key to list its models (set one in Settings)"
            return FoundServer(address, "openai", None, base, "local", (), note)
        if exc.kind in ("unreachable", "timeout"):
            raise
        raise LLMError("invalid_reply", "answers, but not as a model server does") from None
    listed = data.get("data") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise LLMError("invalid_reply", "answers, but not as a model server does")
    entries = [m for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
    models = tuple(m["id"] for m in entries if probe_text(m["id"]) == m["id"] and 0 < len(m["id"]) <= 200)
    owners = {str(m.get("owned_by")) for m in entries}
    product, name = next((_OWNERS[o] for o in owners if o in _OWNERS), (None, "local"))
    if product is None and _is_llama_server(address, left):
        product, name = _OWNERS["llamacpp"]
    return FoundServer(address, "openai", product, base, name, models[:MODELS_MAX])


def _is_llama_server(address: str, left: Any) -> bool:
    """llama.cpp's server answers `/props` with its generation settings and slots (vLLM and
    llama-cpp-python answer 404)."""
    try:
        data = _get(address, "/props", left)
    except LLMError:
        return False
    return isinstance(data, dict) and ("default_generation_settings" in data or "total_slots" in data)
