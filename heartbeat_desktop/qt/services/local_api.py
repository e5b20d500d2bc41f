"""The local HTTP control API as a service of the running app: started, restarted and stopped to match the
settings. What a request asks of the app goes through the app's one `AppControl` (app_control.py), the same
as the command line's requests over the instance socket.

The HTTP side (`api/server.py`) is Qt-free; this module only decides when it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from ...api.token import api_settings
from ...api.token import token as api_token
from ...core.control import AppControl
from ...store.settings import SettingsRepo

if TYPE_CHECKING:
    from ...api.server import ControlAPI

log = logging.getLogger(__name__)


class LocalApi(QObject):
    failed = Signal(str)  # the API could not start (the port is taken…)

    def __init__(
        self,
        control: AppControl,
        data_dir: Path,
        db_path: Path,
        settings: Callable[[], SettingsRepo],
        on_fd_pressure: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._control = control
        self._data_dir = data_dir
        self._db_path = db_path
        self._settings = settings
        self._on_fd_pressure = on_fd_pressure
        self.server: ControlAPI | None = None  # created when the API is turned on
        self.error: str | None = None
        self.enabled = False  # as the settings said at the last `configure`

    @Slot()
    def configure(self) -> None:
        """Start, restart or stop the server to match the settings."""
        settings = api_settings(self._settings().get)
        self.enabled = settings.enabled
        if self.server is not None and settings.enabled and self.server.port == settings.port:
            return
        self.stop()
        if not settings.enabled:
            return
        from ...api.server import ApiFiles, ControlAPI  # only when turned on: not on the launch path

        files = ApiFiles(heartbeat_md=self._data_dir / "HEARTBEAT.md", db=self._db_path)
        try:
            token = lambda: api_token(self._data_dir)  # noqa: E731 (read on every request)
            self.server = ControlAPI(
                self._control, files, token, settings.port, on_fd_pressure=self._on_fd_pressure
            ).start()
            self.error = None
        except OSError as exc:
            self.error = f"cannot listen on 127.0.0.1:{settings.port}: {exc.strerror or exc}"
            log.error("Local API: %s", self.error)
            self.failed.emit(self.error)

    def describe(self) -> dict[str, object]:
        """Whether the API listens, where, or why not — in the app's status, so `api info`, `status` and Settings
        never call a URL the app's own when something else holds the port (a squatter would get the token)."""
        # Published state only (set by `configure`): the API's own status request asks from a server thread.
        server = self.server
        return {
            "enabled": self.enabled,
            "listening": server is not None,
            "url": server.url if server is not None else None,
            "error": self.error if self.enabled else None,
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
