"""Model providers as the rest of the app sees them: a name, a protocol and a base URL.

Plain data in the core, so the model router (llm/) and the store both use it without one importing the
other. Keys are never here: see `secrets.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KINDS = ("ollama", "openai", "anthropic")
OLLAMA = "ollama"  # the app's own Ollama (Settings → App → Ollama host), a provider without being added

# Usable by name without adding them first ("openai:gpt-4o-mini" once a key is set).
BUILTIN = {
    "openai": ("openai", "https://api.openai.com/v1"),
    "anthropic": ("anthropic", "https://api.anthropic.com"),
}


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str
    base_url: str
    builtin: bool = False


def split_model(model: str, providers: Iterable[str]) -> tuple[str, str]:
    """(provider, model) for a configured model string: "llama:smollm2" is provider llama's smollm2 when a
    provider called llama exists; anything else is a model of the app's Ollama ("qwen3:4b" is a tag)."""
    prefix, sep, rest = model.partition(":")
    if sep and rest and (prefix == OLLAMA or prefix in set(providers)):
        return prefix, rest
    return OLLAMA, model


def gone_provider(model: str, providers: Iterable[str], removed: Iterable[str]) -> str | None:
    """The removed provider `model` still names ("lm2:x" after `provider remove lm2`), or None. Such a model
    must fail its run saying so: read as an Ollama tag it went to Ollama, which failed it as "cannot reach
    Ollama" and turned the icon red for a server nobody meant to use."""
    provider, _ = split_model(model, providers)
    prefix, sep, rest = model.partition(":")
    if provider == OLLAMA and sep and rest and prefix != OLLAMA and prefix in set(removed):
        return prefix
    return None


def gone_provider_error(name: str) -> tuple[str, str]:
    """(message, hint) of a run whose model names a removed provider."""
    return (
        f"provider {name!r} no longer exists",
        f"add it again (heartbeat-desktop provider add {name} …) or change the model: heartbeat-desktop config set "
        f"--thread THREAD model MODEL (an Ollama model whose name starts so is written ollama:{name}:…)",
    )


@dataclass(frozen=True)
class HealthTarget:
    """A model server some enabled thread uses: what the health check asks, and names to the user."""

    provider: str
    kind: str
    url: str

    @property
    def label(self) -> str:
        """How the user knows it: "Ollama" for the app's own, else the provider's name."""
        return "Ollama" if self.provider == OLLAMA else self.provider


def health_targets(
    models: Iterable[str], providers: Sequence[Provider], ollama_url: str, removed: Iterable[str] = ()
) -> list[HealthTarget]:
    """The servers behind `models` (each enabled thread's model, or the default it falls back to), once
    each, in the order first used. A provider nobody uses is not asked: with every thread on an
    OpenAI-compatible server, a built-in Ollama that is not running is nobody's problem. A model naming a
    `removed` provider has no server to ask (its runs fail saying so), and is not Ollama's either."""
    by_name = {p.name: p for p in providers}
    gone = set(removed)
    out: dict[str, HealthTarget] = {}
    for model in models:
        name, _ = split_model(model, by_name)
        if name in out or gone_provider(model, by_name, gone) is not None:
            continue
        if name == OLLAMA and name not in by_name:
            out[name] = HealthTarget(OLLAMA, "ollama", ollama_url)
        elif name in by_name:
            out[name] = HealthTarget(name, by_name[name].kind, by_name[name].base_url)
    return list(out.values())


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an API key, or None. A key travels in an HTTP header, which carries visible ASCII
    only: a letter like "ü" or a line break (a key pasted with its neighbour) failed every run with an encoding
    error or blamed the server ("LocalProtocolError")."""
    for position, char in enumerate(key, 1):
        if not "\x21" <= char <= "\x7e":
            shown = repr(char) if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
            return f"character {position} of the key ({shown}) is not visible ASCII, which a key always is"
    return None


def key_can_be_sent(key: str) -> bool:
    return key_problem(key) is None


def model_name_problem(model: str, providers: Iterable[str]) -> str | None:
    """Why `model` is not a model name to store, or None. A provider name with a typo ("lama:smollm2" with a
    provider llama) would silently become an Ollama tag; "llama:" or ":" name no model at all (":" was sent to
    Ollama as a model). Every writer asks this: the command line, Settings' picker, the API."""
    import difflib

    names = list(providers)
    provider, _name = split_model(model, names)
    prefix, sep, rest = model.partition(":")
    if sep and (prefix in (*names, OLLAMA) or not prefix) and not rest.strip():
        return f"{model!r} names no model after the ':' (e.g. {prefix or OLLAMA}:llama3.2)"
    if sep and not prefix:
        return f"{model!r} names no provider before the ':' (e.g. ollama{model})"
    if provider == OLLAMA and sep and prefix != OLLAMA:
        # Provider names are lowercase: "LLAMA:m1" meant provider llama, not an Ollama model of that name.
        close = [prefix.lower()] if prefix.lower() in names else []
        close = close or difflib.get_close_matches(prefix.lower(), names, n=1, cutoff=0.75)
        if close:
            return (
                f"no provider {prefix!r}: did you mean {close[0]}:{rest}? (an Ollama model whose name starts so "
                f"is written ollama:{model}; providers: heartbeat-desktop provider list)"
            )
    return None
