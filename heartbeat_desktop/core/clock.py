"""A simulated wall clock: weeks of heartbeats lived in an hour, through the real app.

The endurance benchmark (benchmarks/endurance.py) runs the real tray app for a simulated month; only the
clock is not real. `HEARTBEAT_SIMULATED_CLOCK=START[xRATE]` (START a Unix time, RATE how many simulated
seconds pass per real one) gives the app this clock instead of the wall clock: the scheduler, its wake
timer, the runner and the store all read it, so slots, backoff, daily caps and the retention behave as
they would over the month. It is a development switch: the app logs a warning when it is on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

ENV = "HEARTBEAT_SIMULATED_CLOCK"


class ScaledClock:
    """`start + (monotonic elapsed) * rate`: monotonic, so a wall-clock step on the host never jumps it."""

    def __init__(self, start: float, rate: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("the rate of a simulated clock must be positive")
        self.start = start
        self.rate = rate
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> float:
        return self.start + (self._monotonic() - self._origin) * self.rate

    def real_seconds(self, simulated: float) -> float:
        """How long a simulated span lasts in real time (what a timer waits)."""
        return simulated / self.rate


def from_env_or_none(environ: Mapping[str, str] = os.environ) -> ScaledClock | None:
    """`from_env`, with a bad value logged and the real clock (None) used: a typo in a development switch must
    not stop the app."""
    try:
        return from_env(environ)
    except ValueError as exc:
        logging.getLogger(__name__).error("%s; using the real clock", exc)
        return None


def from_env(environ: Mapping[str, str] = os.environ) -> ScaledClock | None:
    """The simulated clock `HEARTBEAT_SIMULATED_CLOCK` asks for, or None. Raises ValueError on a bad value."""
    text = environ.get(ENV, "").strip()
    if not text:
        return None
    start, _, rate = text.partition("x")
    try:
        return ScaledClock(float(start), float(rate) if rate else 1.0)
    except ValueError:
        raise ValueError(f"{ENV}={text!r}: expected START[xRATE], e.g. 1796083200x720") from None
