"""The app's control surface without the whole tray app: the real `AppControlQt` on a real (unstarted)
scheduler, its hooks recording what each verb asked for. For the transports' tests (socket, lock)."""

from __future__ import annotations

from pathlib import Path

from heartbeat_desktop.qt.services.app_control import AppControlQt, AppHooks
from heartbeat_desktop.qt.services.scheduler import HeartbeatScheduler

# Every RecordingApp made by the test now running: tests/conftest.py discards their schedulers after the test.
LIVE: list[RecordingApp] = []


class RecordingApp:
    def __init__(self, db: Path, *, open_windows: tuple[str, ...] = ()) -> None:
        LIVE.append(self)
        self.scheduler = HeartbeatScheduler(db, lambda store: None)  # not started: only its signals
        self.calls: list[tuple[str, object]] = []
        self.open = set(open_windows)
        self.control = AppControlQt(
            self.scheduler,
            AppHooks(
                status=lambda: {"paused": False, "threads": []},
                reload=lambda: self.calls.append(("reload", None)),
                api_reload=lambda: self.calls.append(("api-reload", None)),
                open_window=lambda name: self.calls.append(("open", name)),
                close_window=self._close,
                raise_ui=lambda: self.calls.append(("raise", None)),
                unload_models=lambda: self.calls.append(("unload-models", None)),
                quit=lambda: self.calls.append(("quit", None)),
            ),
        )

    def _close(self, name: str) -> bool:
        self.calls.append(("close", name))
        was_open = name in self.open
        self.open.discard(name)
        return was_open

    def asked(self, verb: str) -> list[object]:
        return [arg for name, arg in self.calls if name == verb]
