"""Key sources for tests that are not about the keyring itself (those use a real Secret Service)."""

from __future__ import annotations


class StaticKeys(dict[str, str]):
    """Provider name → key; a provider not listed has none."""

    def key(self, provider: str, timeout_s: float) -> str | None:
        return self.get(provider)


def sends_key(headers: dict[str, str]) -> bool:
    """Did a recorded request carry credentials? (Header names compared case-insensitively: the `ollama`
    package sends `authorization`, httpx callers `Authorization`.)"""
    return any(name.lower() in ("authorization", "x-api-key") for name in headers)
