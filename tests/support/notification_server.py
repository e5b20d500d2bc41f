"""A minimal org.freedesktop.Notifications server for tests: owns the name on the session bus given by
DBUS_SESSION_BUS_ADDRESS, answers like a real daemon, and appends every Notify call as one JSON line to
the file named on the command line. Run: python -m tests.support.notification_server OUT.jsonl
"""

from __future__ import annotations

import json
import sys

from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"


def main(out_path: str) -> int:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # DO_NOT_QUEUE
    if reply.body[0] != 1:
        print("could not own the name", file=sys.stderr)
        return 1
    print("ready", flush=True)
    next_id = 1
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(3)  # HeaderFields.member
        if member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("test-notifyd", "heartbeat-tests", "1.0", "1.2")))
        elif member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["actions", "body", "body-markup"],)))
        elif member == "Notify":
            app, _replaces, icon, summary, body, actions, hints, timeout = msg.body
            record = {
                "id": next_id,
                "app": app,
                "icon": icon,
                "summary": summary,
                "body": body,
                "actions": list(actions),
                "urgency": hints.get("urgency", ("y", 1))[1],
                "timeout": timeout,
            }
            with open(out_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            conn.send(new_method_return(msg, "u", (next_id,)))
            next_id += 1
        elif member == "CloseNotification":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
