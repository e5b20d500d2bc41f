"""Where the desktop's answers to "is the user here?" come from, per platform.

On Linux each answer has its own D-Bus source (presence/dbus.py); elsewhere there are none yet, and
`core.presence` treats "nobody said" as "present", so heartbeats run as they always did. Tests pass their
own sources (tests/support/presence.py) or point these at a private bus.
"""

from __future__ import annotations

import sys

from ..core.presence import CombinedPresence, PresenceSource


def heartbeat_presence() -> PresenceSource | None:
    """What a scheduled heartbeat asks before it runs: locked, idle, battery, metered."""
    if not sys.platform.startswith("linux"):
        return None
    from .dbus import LogindSession, NetworkManagerMetered, ScreenSaver, UPowerBattery

    return CombinedPresence([LogindSession(), ScreenSaver(), UPowerBattery(), NetworkManagerMetered()])


def notification_presence() -> PresenceSource | None:
    """What the notifier asks before it shows something: Do Not Disturb."""
    if not sys.platform.startswith("linux"):
        return None
    from .dbus import DoNotDisturb

    return DoNotDisturb()
