"""LLM clients implementing `core.ports.LLMClient`."""

from .ollama_client import DEFAULT_HOST, OllamaClient, resolve_host

__all__ = ["DEFAULT_HOST", "OllamaClient", "resolve_host"]
