"""Desktop notifications: the freedesktop service on Linux, the tray balloon elsewhere and as fallback.

`Notifier` takes `Notice`s (core/notify.py) on the GUI thread and never blocks it: the D-Bus backend talks
to `org.freedesktop.Notifications` from its own thread (through jeepney, which keyring already brings on
Linux, with explicit D-Bus signatures), and reports back through Qt signals. Failures that arrive close
together are held for a moment and folded into one notification ("3 heartbeats failed").
"""

from __future__ import annotations

import html
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QSystemTrayIcon

from ..core.notify import Notice, fold_failures
from .icons import icon_path
from .plain_text import inert

log = logging.getLogger(__name__)

APP_NAME = "Heartbeat Desktop"
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
FAILURE_HOLD_MS = 10_000  # failures after a shown one, within this window, are folded into one summary
EXPIRE_MS = 8000


class FreedesktopBackend(QObject):
    """org.freedesktop.Notifications over the session bus, on a private thread."""

    available_changed = Signal(bool)
    action_invoked = Signal(int)  # post id whose "Open" was clicked
    sent = Signal(str, int)  # summary, notification id (tests and logs)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available: bool | None = None  # unknown until the thread has asked the server
        self.capabilities: set[str] = set()
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._ids_to_post: dict[int, int] = {}
        self._thread = threading.Thread(target=self._main, name="notifications", daemon=True)
        self._thread.start()

    def send(self, notice: Notice) -> None:
        self._queue.put(notice)

    def close(self) -> None:
        self._queue.put(None)

    # -------------------------------------------------------------- private thread
    def _main(self) -> None:
        try:
            from jeepney import DBusAddress, MatchRule, new_method_call
            from jeepney.bus_messages import message_bus
            from jeepney.io.threading import DBusRouter, open_dbus_connection
            from jeepney.wrappers import unwrap_msg

            connection = open_dbus_connection(bus="SESSION")
            router = DBusRouter(connection)
            address = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=BUS_NAME)
            info = unwrap_msg(router.send_and_get_reply(new_method_call(address, "GetServerInformation"), timeout=3))
            caps = unwrap_msg(router.send_and_get_reply(new_method_call(address, "GetCapabilities"), timeout=3))[0]
            self.capabilities = set(caps)
            rule = MatchRule(type="signal", interface=BUS_NAME, member="ActionInvoked", path=OBJECT_PATH)
            unwrap_msg(router.send_and_get_reply(message_bus.AddMatch(rule), timeout=3))
        except Exception as exc:  # no bus, no server, no jeepney: the tray balloon takes over
            log.info("No freedesktop notification service (%s); using the tray balloon", exc)
            self.available = False
            self.available_changed.emit(False)
            return
        log.info("Notifications via %s %s (capabilities: %s)", info[0], info[2], ", ".join(sorted(caps)))
        self.available = True
        self.available_changed.emit(True)
        actions_queue: queue.Queue[Any] = queue.Queue(maxsize=100)
        with router.filter(rule, queue=actions_queue):
            threading.Thread(target=self._watch_actions, args=(actions_queue,), daemon=True).start()
            while (notice := self._queue.get()) is not None:
                self._notify(router, address, new_method_call, unwrap_msg, notice)
        router.close()
        connection.close()

    def _notify(
        self, router: Any, address: Any, new_method_call: Callable, unwrap_msg: Callable, notice: Notice
    ) -> None:
        body = notice.body
        if "body-markup" in self.capabilities:
            body = html.escape(body, quote=False)  # the body is markup to such servers; ours is plain text
        actions: list[str] = []
        if notice.post_id is not None and "actions" in self.capabilities:
            actions = ["default", "Open", "open", "Open"]
        hints = {
            "urgency": ("y", 2 if notice.critical else 1),
            "desktop-entry": ("s", "heartbeat-desktop"),
            "category": ("s", "im.error" if notice.critical else "im.received"),
        }
        icon = str(icon_path("tray-error" if notice.critical else "app"))
        expire = -1 if notice.critical else EXPIRE_MS  # a failure stays until the user has seen it
        args = (APP_NAME, 0, icon, notice.title, body, actions, hints, expire)
        message = new_method_call(address, "Notify", "susssasa{sv}i", args)
        try:
            (notification_id,) = unwrap_msg(router.send_and_get_reply(message, timeout=5))
        except Exception as exc:
            log.warning("Notification %r could not be shown: %s", notice.title, exc)
            return
        if notice.post_id is not None:
            self._ids_to_post[notification_id] = notice.post_id
        self.sent.emit(notice.title, notification_id)

    def _watch_actions(self, actions: queue.Queue[Any]) -> None:
        while True:
            message = actions.get()
            notification_id, _key = message.body
            post_id = self._ids_to_post.get(notification_id)
            if post_id is not None:
                self.action_invoked.emit(post_id)


class Notifier(QObject):
    """Decides the channel and folds failure bursts; call `show()` from the GUI thread."""

    open_post = Signal(int)
    shown = Signal(object)  # the Notice actually shown (after folding)

    def __init__(
        self,
        tray: QSystemTrayIcon | None,
        *,
        use_dbus: bool | None = None,
        hold_ms: int = FAILURE_HOLD_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._held: list[Notice] = []
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.setInterval(hold_ms)
        self._hold.timeout.connect(self._flush_failures)
        self._backend: FreedesktopBackend | None = None
        if use_dbus if use_dbus is not None else sys.platform.startswith("linux"):
            self._backend = FreedesktopBackend(self)
            self._backend.action_invoked.connect(self.open_post)
        if tray is not None:
            tray.messageClicked.connect(self._balloon_clicked)
        self._last_balloon_post: int | None = None
        self._closed = False

    @property
    def backend(self) -> FreedesktopBackend | None:
        return self._backend

    def show(self, notice: Notice) -> None:
        if self._closed:  # quitting: an error now goes to the log only
            log.info("Not shown (quitting): %s — %s", notice.title, notice.body)
            return
        if notice.critical:
            # The first failure is shown at once (holding it made a failure arrive late); the ones that
            # follow within the window are folded into one summary at its end, so a burst is two at most.
            if self._hold.isActive():
                self._held.append(notice)
                return
            self._hold.start()
        self._deliver(notice)

    @Slot()
    def _flush_failures(self) -> None:
        held, self._held = self._held, []
        if held:
            self._deliver(fold_failures(held, more=True))

    def _deliver(self, notice: Notice) -> None:
        self.shown.emit(notice)
        if self._backend is not None and self._backend.available is not False:
            self._backend.send(notice)  # queued until the server answered; dropped to balloon below if none
            if self._backend.available is None:
                self._backend.available_changed.connect(lambda ok, n=notice: ok or self._balloon(n))
            return
        self._balloon(notice)

    def _balloon(self, notice: Notice) -> None:
        if self._tray is None or not QSystemTrayIcon.supportsMessages():
            log.info("Notification (no channel available): %s — %s", notice.title, notice.body)
            return
        icon = QSystemTrayIcon.MessageIcon.Critical if notice.critical else QSystemTrayIcon.MessageIcon.Information
        self._last_balloon_post = notice.post_id
        self._tray.showMessage(inert(notice.title), inert(notice.body), icon, EXPIRE_MS)

    @Slot()
    def _balloon_clicked(self) -> None:
        if self._last_balloon_post is not None:
            self.open_post.emit(self._last_balloon_post)

    def close(self) -> None:
        self._closed = True
        self._hold.stop()
        if self._backend is not None:
            self._backend.close()
