"""One model call at a time per local model server, across everything in this process that asks one.

Why: llama.cpp's server splits or shares one context among its parallel slots, so two heartbeats asking at
the same moment (two threads on the same :00 slot, a scheduled run beside Run now, the editor's preview during
a heartbeat) overflowed a 4096-token window that each prompt fitted alone, and both runs failed with advice
to shorten a prompt that was never too long (found living with the app). Ollama queues requests anyway, and a
small machine gains nothing from two generations sharing its cores. So calls to one server wait their turn,
while calls to different servers still run side by side. The hosted services (OpenAI, Anthropic) serve many
callers and are not gated.

The gate is process-wide because routers are made per run (each run has its own client on its own thread)
while the server they share is one; `ModelRouter` takes a gate so a test can give it its own. Waiting counts
against the run's timeout and can be cancelled like the call itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..core.ports import LLMError

WAIT_SLICE_S = 0.2  # how often a waiting call looks whether it was cancelled


class ServerGate:
    """A lock per server address; `hold(url, …)` waits for that server's turn."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._monotonic = monotonic

    def _lock(self, url: str) -> threading.Lock:
        key = url.rstrip("/").lower()
        with self._guard:  # a handful of servers at most: kept for the process's life
            return self._locks.setdefault(key, threading.Lock())

    @contextmanager
    def hold(
        self, url: str, label: str, timeout_s: float, cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[float]:
        """Hold `url`'s turn; yields the seconds of `timeout_s` left once it is ours. Raises LLMError
        ("timeout" when another call held it all along, "cancelled" when `cancelled()` turned true)."""
        lock = self._lock(url)
        started = self._monotonic()
        while not lock.acquire(timeout=max(0.0, min(WAIT_SLICE_S, timeout_s - (self._monotonic() - started)))):
            if cancelled():
                raise LLMError("cancelled", "the request was cancelled while it waited for the model server")
            if self._monotonic() - started >= timeout_s:
                raise LLMError(
                    "timeout",
                    f"{label} was busy answering another request for the whole {timeout_s:g} s timeout",
                    "another thread's heartbeat, Run now or a preview asked it first; raise llm_timeout "
                    "(heartbeat-desktop settings set llm_timeout N) or spread the threads' intervals",
                )
        try:
            yield timeout_s - (self._monotonic() - started)
        finally:
            lock.release()


PROCESS_GATE = ServerGate()  # every router of this process shares it (see the module's docstring)
