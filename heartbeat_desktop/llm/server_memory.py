"""What each model server was found to accept, remembered so later runs start with what works.

Two facts, both learned from a server's own refusals: the output format it takes (`output_format.py`)
and a model's context window, when the server names it in an error (`context_window.py`). Both are
keyed by provider *and* URL (pointing a provider somewhere else starts afresh), and both age out after
`RECHECK_AFTER_S`, so an upgraded server is asked for the better format again. The app keeps them in
the store (`wiring.StoreServerMemory`); `InMemoryServerMemory` serves a process (tests, one-off tools).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

RECHECK_AFTER_S = 7 * 24 * 3600.0


class ServerMemory(Protocol):
    def recall_format(self, provider: str, base_url: str) -> str | None:
        """The format this provider at this URL was last found to accept, if still fresh."""
        ...

    def learn_format(self, provider: str, base_url: str, fmt: str) -> None: ...

    def recall_window(self, provider: str, base_url: str, model: str) -> int | None:
        """The context window (tokens) the server reported for `model`, if still fresh."""
        ...

    def learn_window(self, provider: str, base_url: str, model: str, tokens: int) -> None: ...


class InMemoryServerMemory:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._known: dict[tuple[str, ...], tuple[object, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _recall(self, key: tuple[str, ...]) -> object | None:
        with self._lock:
            found = self._known.get(key)
        if found is None or self._clock() - found[1] > RECHECK_AFTER_S:
            return None
        return found[0]

    def _learn(self, key: tuple[str, ...], value: object) -> None:
        with self._lock:
            self._known[key] = (value, self._clock())

    def recall_format(self, provider: str, base_url: str) -> str | None:
        value = self._recall(("format", provider, base_url))
        return value if isinstance(value, str) else None

    def learn_format(self, provider: str, base_url: str, fmt: str) -> None:
        self._learn(("format", provider, base_url), fmt)

    def recall_window(self, provider: str, base_url: str, model: str) -> int | None:
        value = self._recall(("window", provider, base_url, model))
        return value if isinstance(value, int) else None

    def learn_window(self, provider: str, base_url: str, model: str, tokens: int) -> None:
        self._learn(("window", provider, base_url, model), tokens)
