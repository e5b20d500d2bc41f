"""Desktop notifications: the freedesktop service on Linux, the tray balloon elsewhere and as fallback.

`Notifier` takes `Notice`s (core/notify.py) on the GUI thread and never blocks it: the D-Bus backend talks
to `org.freedesktop.Notifications` from its own thread (through jeepney, which keyring already brings on
Linux, with explicit D-Bus signatures), and reports back through Qt signals. Failures that arrive close
together are held for a moment and folded into one notification ("3 heartbeats failed").

Notifications can be acted on: the buttons a notice asks for (Undo, Snooze this thread 1 h, Retry, Open
history) are sent as freedesktop actions where the server has them, and come back as `action_requested`;
the tray balloon has no buttons, so a click on it does the notice's default action (open the post, or
History for a failure).

While the desktop's Do Not Disturb is on (where it says so: presence/dbus.py), notices are held, the
setting is looked at again every `DND_POLL_MS` while anything is held (never otherwise), and what was held
is shown as one summary once it is off.
"""

from __future__ import annotations

import html
import logging
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QSystemTrayIcon

from ...core.notify import ACTION_LABELS, Notice, ended, fold_failures, held_summary
from ...core.presence import PresenceSource
from ..icons import icon_path
from ..plain_text import inert

log = logging.getLogger(__name__)

APP_NAME = "Heartbeat Desktop"
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
FAILURE_HOLD_MS = 10_000  # failures after a shown one, within this window, are folded into one summary
EXPIRE_MS = 8000
EXPIRE_ACTIONS_MS = 30_000  # long enough to reach Undo or Snooze; the Feed window can undo later too
DND_POLL_MS = 10_000
MEMBER, SENDER = 3, 7  # D-Bus header fields (jeepney's HeaderFields.member and .sender)


class FreedesktopBackend(QObject):
    """org.freedesktop.Notifications over the session bus, on a private thread."""

    available_changed = Signal(bool)
    action_invoked = Signal(str, object)  # action key ("default" for a click on the body), the Notice

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available: bool | None = None  # unknown until the thread has asked the server
        self.capabilities: set[str] = set()
        # a str: withdraw the notice with that key; an int: close that notification (its button was used)
        self._queue: queue.Queue[Notice | str | int | None] = queue.Queue()
        self._shown: dict[int, Notice] = {}  # notification id → what it said, for its actions
        # notification id → the unique bus name of the server that showed it: the only one whose ActionInvoked
        # counts (any client on the session bus can emit that signal, with any id)
        self._shown_by: dict[int, str] = {}
        self._keyed: dict[str, list[int]] = {}  # Notice.key → the ids it was shown with, to withdraw them
        self._thread = threading.Thread(target=self._main, name="notifications", daemon=True)
        self._thread.start()

    def send(self, notice: Notice) -> None:
        self._queue.put(notice)

    def withdraw(self, key: str) -> None:
        """Close the notification shown for `key`, if it is still up (the problem it reported is over)."""
        self._queue.put(key)

    def close(self) -> None:
        """Close the notifications still up, then stop the private threads (the sender and the action watcher)
        and the bus connection."""
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for `close()` to take effect; True when the threads are gone."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -------------------------------------------------------------- private thread
    def _announce(self, available: bool) -> bool:
        """Say whether the server is there; False when the app has already let this object go (a launch that
        lost the race to another app exits while this thread still asks the bus)."""
        try:
            self.available_changed.emit(available)
        except RuntimeError:  # "Signal source has been deleted"
            return False
        return True

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
            rule = MatchRule(type="signal", interface=BUS_NAME, path=OBJECT_PATH)
            unwrap_msg(router.send_and_get_reply(message_bus.AddMatch(rule), timeout=3))
        except Exception as exc:  # no bus, no server, no jeepney: the tray balloon takes over
            log.info("No freedesktop notification service (%s); using the tray balloon", exc)
            self.available = False
            self._announce(False)
            return
        log.info("Notifications via %s %s (capabilities: %s)", info[0], info[2], ", ".join(sorted(caps)))
        self.available = True
        if not self._announce(True):
            router.close()
            connection.close()
            return
        actions_queue: queue.Queue[Any] = queue.Queue(maxsize=100)
        watcher = threading.Thread(
            target=self._watch_actions, args=(actions_queue,), name="notification-actions", daemon=True
        )
        with router.filter(rule, queue=actions_queue):
            watcher.start()
            while (item := self._queue.get()) is not None:
                if isinstance(item, int):
                    self._close_id(router, address, new_method_call, item)
                elif isinstance(item, str):
                    self._close_key(router, address, new_method_call, item)
                else:
                    self._notify(router, address, new_method_call, unwrap_msg, item)
        # Nothing the app showed outlives it: a failure would stand until the user closed it by hand (found
        # living with the app: failures of the last run were still up the next morning), and a post's Undo
        # has nobody left to answer it.
        for notification_id in list(self._shown):
            self._close_id(router, address, new_method_call, notification_id)
        # The watcher blocks on its queue: tell it to stop, or every notifier ever made leaves a thread behind
        # (the app makes one per start of the D-Bus connection; the tests make hundreds).
        actions_queue.put(None)
        watcher.join(timeout=5)
        router.close()
        connection.close()

    def _notify(
        self,
        router: Any,
        address: Any,
        new_method_call: Callable[..., Any],
        unwrap_msg: Callable[..., Any],
        notice: Notice,
    ) -> None:
        body = notice.body
        if "body-markup" in self.capabilities:
            body = html.escape(body, quote=False)  # the body is markup to such servers; ours is plain text
        actions: list[str] = []
        if "actions" in self.capabilities:
            # "default" is what a click on the notification does; its label is not shown by most servers.
            actions = ["default", ACTION_LABELS[notice.default_action]]
            # A button that does what a click does already would be listed twice ("Open history").
            for key in notice.actions:
                if key != notice.default_action:
                    actions += [key, ACTION_LABELS[key]]
        hints = {
            "urgency": ("y", 2 if notice.critical else 1),
            "desktop-entry": ("s", "heartbeat-desktop"),
            "category": ("s", "im.error" if notice.critical else "im.received"),
        }
        icon = str(icon_path("tray-error" if notice.critical else "app"))
        # A failure stays until the user has seen it (or the app withdraws it when it is over).
        expire = -1 if notice.critical else EXPIRE_ACTIONS_MS if notice.actions else EXPIRE_MS
        args = (APP_NAME, 0, icon, notice.title, body, actions, hints, expire)
        message = new_method_call(address, "Notify", "susssasa{sv}i", args)
        try:
            reply = router.send_and_get_reply(message, timeout=5)
            (notification_id,) = unwrap_msg(reply)
        except Exception as exc:
            log.warning("Notification %r could not be shown: %s", notice.title, exc)
            return
        self._shown[notification_id] = notice
        self._shown_by[notification_id] = reply.header.fields.get(SENDER, "")
        if notice.key:
            self._keyed.setdefault(notice.key, []).append(notification_id)
        if len(self._shown) > 200:  # servers forget old notifications; so do we
            oldest = next(iter(self._shown))
            del self._shown[oldest]
            self._shown_by.pop(oldest, None)
        log.debug("Notification %d shown: %s", notification_id, notice.title)

    def _close_key(self, router: Any, address: Any, new_method_call: Callable[..., Any], key: str) -> None:
        for notification_id in self._keyed.pop(key, []):
            self._close_id(router, address, new_method_call, notification_id)

    def _close_id(self, router: Any, address: Any, new_method_call: Callable[..., Any], notification_id: int) -> None:
        try:
            router.send_and_get_reply(new_method_call(address, "CloseNotification", "u", (notification_id,)), timeout=5)
        except Exception as exc:
            log.debug("Could not close notification %d: %s", notification_id, exc)

    def _watch_actions(self, signals: queue.Queue[Any]) -> None:
        while (message := signals.get()) is not None:
            member = message.header.fields.get(MEMBER)
            if member not in ("NotificationClosed", "ActionInvoked"):
                continue
            body = message.body
            if not (body and isinstance(body[0], int)) or (member == "ActionInvoked" and len(body) < 2):
                continue  # a malformed signal (anyone may send one) must not end this thread
            notification_id = body[0]
            sender = message.header.fields.get(SENDER)
            if notification_id not in self._shown:
                continue  # not ours (another app's notification) or long gone
            if sender != self._shown_by.get(notification_id):
                log.warning(
                    "Ignored %s for notification %d from %s, not the server that showed it",
                    member,
                    notification_id,
                    sender,
                )
                continue
            if member == "NotificationClosed":
                self._shown.pop(notification_id, None)
                self._shown_by.pop(notification_id, None)
                continue
            key = str(body[1])
            notice = self._shown[notification_id]
            if key == "default":
                key = notice.default_action
            if key in ACTION_LABELS:
                self.action_invoked.emit(key, notice)
                # Done with: some servers (dunst among them) leave a notification up after its button.
                self._queue.put(notification_id)


class Notifier(QObject):
    """Decides the channel, folds failure bursts, holds notices during Do Not Disturb; call `show()` from
    the GUI thread."""

    action_requested = Signal(str, object)  # action key (core.notify: UNDO, SNOOZE, …), the Notice
    shown = Signal(object)  # the Notice actually shown (after folding)
    held = Signal(object)  # a Notice held back because Do Not Disturb is on
    _dnd_answer = Signal(object, bool)  # (Notice or None for a re-check, DND on?) from the checking thread

    def __init__(
        self,
        tray: QSystemTrayIcon | None,
        *,
        use_dbus: bool | None = None,
        hold_ms: int = FAILURE_HOLD_MS,
        dnd: PresenceSource | None = None,
        dnd_poll_ms: int = DND_POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._held: list[Notice] = []
        self._folds: dict[str, set[str]] = {}  # a shown burst's key → the keys of its failures not over yet
        self._folds_made = 0
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.setInterval(hold_ms)
        self._hold.timeout.connect(self._flush_failures)
        self._backend: FreedesktopBackend | None = None
        if use_dbus if use_dbus is not None else sys.platform.startswith("linux"):
            self._backend = FreedesktopBackend(self)
            self._backend.action_invoked.connect(self.action_requested)
        if tray is not None:
            tray.messageClicked.connect(self._balloon_clicked)
        self._last_balloon: Notice | None = None
        self._closed = False
        # Do Not Disturb: asked on one worker thread (a D-Bus round trip must not block the GUI), in order,
        # so notices keep their order whether or not they were held.
        self._dnd = dnd
        self._dnd_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnd") if dnd else None
        self._dnd_held: list[Notice] = []
        # Keys withdrawn while their notice was on its way to the Do Not Disturb check: held as over, not live.
        self._over: set[str] = set()
        self._dnd_poll = QTimer(self)
        self._dnd_poll.setSingleShot(True)
        self._dnd_poll.setInterval(dnd_poll_ms)
        self._dnd_poll.timeout.connect(lambda: self._ask_dnd(None))
        self._dnd_answer.connect(self._on_dnd_answer)

    @property
    def backend(self) -> FreedesktopBackend | None:
        return self._backend

    def show(self, notice: Notice) -> None:
        if self._closed:  # quitting: an error now goes to the log only
            log.info("Not shown (quitting): %s — %s", notice.title, notice.body)
            return
        if notice.key:
            self._over.discard(notice.key)  # the condition is back (or still there): this notice is live
        if notice.critical and not notice.alone:
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
        if not held:
            return
        folded = fold_failures(held, more=True)
        if folded.covers and all(folded.covers):  # withdrawn once every failure in it is over
            self._folds_made += 1
            folded = replace(folded, key=f"folded:{self._folds_made}")
            self._folds[folded.key or ""] = set(folded.covers)
        self._deliver(folded)

    def _deliver(self, notice: Notice) -> None:
        if self._dnd_pool is not None:
            self._ask_dnd(notice)
            return
        self._send(notice)

    def _ask_dnd(self, notice: Notice | None) -> None:
        assert self._dnd is not None and self._dnd_pool is not None
        dnd = self._dnd

        def ask() -> None:
            try:
                on = bool(dnd.read().do_not_disturb)
            except Exception:  # unknown is "not on": a broken source must not swallow notices
                on = False
            if not self._closed:
                self._dnd_answer.emit(notice, on)

        try:
            self._dnd_pool.submit(ask)
        except RuntimeError:  # shut down while quitting
            pass

    @Slot(object, bool)
    def _on_dnd_answer(self, notice: Notice | None, on: bool) -> None:
        if self._closed:
            return
        if notice is not None and notice.key in self._over:
            notice = ended(notice) if on else None  # over before it could be shown: said later, or not at all
        if on:
            if notice is not None:
                self._dnd_held.append(notice)
                self.held.emit(notice)
                log.info("Held (Do Not Disturb): %s", notice.title)
            if self._dnd_held and not self._dnd_poll.isActive():
                self._dnd_poll.start()
            return
        if self._dnd_held:
            held, self._dnd_held = self._dnd_held, []
            self._send(held_summary(held))
        if notice is not None:
            self._send(notice)

    def _send(self, notice: Notice) -> None:
        self.shown.emit(notice)
        if self._backend is not None and self._backend.available is not False:
            self._backend.send(notice)  # queued until the server answered; dropped to balloon below if none
            if self._backend.available is None:

                def fall_back(ok: bool, n: Notice = notice) -> None:
                    if not ok:
                        self._balloon(n)

                self._backend.available_changed.connect(fall_back)
            return
        self._balloon(notice)

    def _balloon(self, notice: Notice) -> None:
        if self._tray is None or not QSystemTrayIcon.supportsMessages():
            log.info("Notification (no channel available): %s — %s", notice.title, notice.body)
            return
        icon = QSystemTrayIcon.MessageIcon.Critical if notice.critical else QSystemTrayIcon.MessageIcon.Information
        self._last_balloon = notice
        self._tray.showMessage(inert(notice.title), inert(notice.body), icon, EXPIRE_MS)

    @Slot()
    def _balloon_clicked(self) -> None:
        # A balloon has no buttons: a click does the default action, which opens the window it is about.
        if self._last_balloon is not None:
            self.action_requested.emit(self._last_balloon.default_action, self._last_balloon)

    def withdraw(self, key: str) -> None:
        """The condition a keyed notice reported is over: take the notification down (or never show it)."""
        self._held = [n for n in self._held if n.key != key]
        # Held during Do Not Disturb: kept, as over, so the summary still says it happened (#27 item 4).
        self._dnd_held = [ended(n) if n.key == key else n for n in self._dnd_held]
        self._over.add(key)
        if self._backend is not None:
            self._backend.withdraw(key)
        for fold, members in list(self._folds.items()):
            members.discard(key)
            if not members:  # every failure of that burst is over: the burst's notification goes too
                del self._folds[fold]
                self.withdraw(fold)

    def wait_closed(self, timeout_s: float) -> None:
        """After `close()`, at quit: give the backend up to `timeout_s` to take its notifications down before
        the process ends (its thread is a daemon, which dies with the process)."""
        if self._backend is not None:
            self._backend.join(timeout_s)

    def close(self) -> None:
        self._closed = True
        self._hold.stop()
        self._dnd_poll.stop()
        if self._dnd_pool is not None:
            self._dnd_pool.shutdown(wait=False, cancel_futures=True)
        if self._backend is not None:
            self._backend.close()
