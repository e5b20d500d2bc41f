"""Whether the user is at the machine, and whether it is a good time to spend power, data or attention.

A heartbeat that runs while the screen is locked posts into a feed nobody reads and spends a local model's
CPU (or a laptop's battery, or a metered connection's data) for nothing; a notification shown during Do Not
Disturb interrupts exactly when the user asked not to be. This module holds the pure rules; the desktop's
answers come from `PresenceSource`s (heartbeat_desktop/presence/: logind, the screensaver, UPower,
NetworkManager, the notification daemon), each behind the same small interface, each allowed to not know.

Unknown is never "away": a machine without logind (a container, macOS, a CI box) runs heartbeats exactly as
before, and a source that fails to answer within its short timeout counts as unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from .config import HeartbeatConfig

# A deferred heartbeat looks again this often while the user is away; the first deferral of a stretch is
# recorded (History says why nothing ran), the ones that repeat it are not, so a night away is not a page
# of identical rows.
RECHECK_S = 120.0


@dataclass(frozen=True)
class PresenceState:
    """What the desktop says right now; None means the desktop did not say (or could not be asked)."""

    locked: bool | None = None
    idle_s: float | None = None  # seconds since the last input, when the desktop tells
    on_battery: bool | None = None
    metered: bool | None = None
    do_not_disturb: bool | None = None

    def merged(self, other: PresenceState) -> PresenceState:
        """Fill what this state does not know from `other` (the first source that knows wins)."""
        return replace(
            self,
            locked=self.locked if self.locked is not None else other.locked,
            idle_s=self.idle_s if self.idle_s is not None else other.idle_s,
            on_battery=self.on_battery if self.on_battery is not None else other.on_battery,
            metered=self.metered if self.metered is not None else other.metered,
            do_not_disturb=self.do_not_disturb if self.do_not_disturb is not None else other.do_not_disturb,
        )


UNKNOWN = PresenceState()


class PresenceSource(Protocol):
    """One desktop service. `read()` may block (it is called off the GUI thread) but must return within
    about a second; it returns UNKNOWN fields rather than raising."""

    def read(self) -> PresenceState: ...


class CombinedPresence:
    """Asks every source and merges the answers (the first that knows a field wins)."""

    def __init__(self, sources: list[PresenceSource]) -> None:
        self.sources = sources

    def read(self) -> PresenceState:
        state = UNKNOWN
        for source in self.sources:
            try:
                state = state.merged(source.read())
            except Exception:  # a broken source must never stop a heartbeat
                continue
        return state


class Switchable:
    """A source an app setting can turn off (then it knows nothing: for Do Not Disturb, nothing is held)."""

    def __init__(self, source: PresenceSource, on: Callable[[], bool]) -> None:
        self.source, self.on = source, on

    def read(self) -> PresenceState:
        return self.source.read() if self.on() else UNKNOWN


def away_reason(config: HeartbeatConfig, state: PresenceState) -> str | None:
    """Why a scheduled heartbeat should wait for the user, or None. The reason is stable while the
    situation is (no times in it) so a repeated deferral can be recognised as the same one."""
    if config.defer_when_locked and state.locked:
        return "deferred: the screen is locked"
    idle_limit = config.defer_when_idle_minutes * 60
    if idle_limit and state.idle_s is not None and state.idle_s >= idle_limit:
        return f"deferred: you have been away for more than {config.defer_when_idle_minutes} min"
    if config.defer_on_battery and state.on_battery:
        return "deferred: running on battery"
    if config.defer_on_metered and state.metered:
        return "deferred: the network connection is metered"
    return None
