"""Model providers as the rest of the app sees them: a name, a protocol and a base URL.

Plain data in the core, so the model router (llm/) and the store both use it without one importing the
other. Keys are never here: see `secrets.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("ollama", "openai", "anthropic")

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
