"""Stand-ins for logind, UPower and NetworkManager for tests: they own the real bus names on the bus given
by DBUS_SESSION_BUS_ADDRESS (a private dbus-daemon the test passes to the app as its *system* bus) and
answer `org.freedesktop.DBus.Properties.GetAll` with what the JSON file named on the command line says at
that moment, so a test changes the desktop's state by rewriting the file. `{"stall": true}` makes them
never answer (a hung service). Run: python -m tests.support.system_services STATE.json
"""

from __future__ import annotations

import json
import sys

from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAMES = ("org.freedesktop.login1", "org.freedesktop.UPower", "org.freedesktop.NetworkManager")
# (path, interface) → {property: (signature, state key)}
OBJECTS = {
    ("/org/freedesktop/login1/session/auto", "org.freedesktop.login1.Session"): {
        "LockedHint": ("b", "locked"),
        "IdleHint": ("b", "idle"),
        "IdleSinceHint": ("t", "idle_since_us"),
        "Name": ("s", "user"),
    },
    ("/org/freedesktop/UPower", "org.freedesktop.UPower"): {"OnBattery": ("b", "on_battery")},
    ("/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager"): {"Metered": ("u", "metered")},
}
DEFAULTS = {"locked": False, "idle": False, "idle_since_us": 0, "user": "tester", "on_battery": False, "metered": 4}


def main(state_path: str) -> int:
    conn = open_dbus_connection(bus="SESSION")
    for name in NAMES:
        if conn.send_and_get_reply(message_bus.RequestName(name, 4)).body[0] != 1:
            print(f"could not own {name}", file=sys.stderr)
            return 1
    print("ready", flush=True)
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        with open(state_path, encoding="utf-8") as fh:
            state = {**DEFAULTS, **json.load(fh)}
        if state.get("stall"):
            continue
        fields = msg.header.fields
        path, member = fields.get(1), fields.get(3)  # HeaderFields.path, .member
        if member == "GetAll" and msg.body and (path, msg.body[0]) in OBJECTS:
            props = {key: (sig, state[src]) for key, (sig, src) in OBJECTS[(path, msg.body[0])].items()}
            conn.send(new_method_return(msg, "a{sv}", (props,)))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownObject"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
