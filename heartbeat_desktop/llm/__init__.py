"""LLM clients implementing `core.ports.LLMClient`.

`OllamaClient` is loaded on first use (PEP 562): importing it pulls in httpx and the ollama library, which
the tray app does not need until the first heartbeat or health check (issue #17).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hosts import DEFAULT_HOST, resolve_host

if TYPE_CHECKING:
    from .ollama_client import OllamaClient

__all__ = ["DEFAULT_HOST", "OllamaClient", "resolve_host"]


def __getattr__(name: str) -> Any:
    if name == "OllamaClient":
        from .ollama_client import OllamaClient

        return OllamaClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
