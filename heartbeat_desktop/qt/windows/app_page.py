"""Settings → App: what holds for the whole app (the model server, defaults, the local API, start at login).

Its own module, as Providers is, so the dialog is about drafting and applying. The numeric and on/off rows
are built from the settings' declarations (core/app_settings.py): bounds, default and help come from there.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from ...api.token import api_settings
from ...core.app_settings import DEFAULT_MODEL, AppSettings, check_host
from ...core.config import ConfigError
from ...llm.hosts import resolve_host
from ...store import SqliteStore
from ..plain_text import plain_label

_W = TypeVar("_W", QSpinBox, QCheckBox)


def _label(text: str, buddy: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


class AppPage(QWidget):
    def __init__(self, store: SqliteStore, autostart: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.host = QLineEdit(store.settings.get("ollama_host") or "")
        self.host.setPlaceholderText(resolve_host(None))
        self.host.setAccessibleName("Ollama host")
        self.default_model = QLineEdit(store.settings.get("default_model") or "")
        self.default_model.setPlaceholderText(DEFAULT_MODEL)
        self.default_model.setAccessibleName("Default model")
        current = store.settings.app()
        self._fields: dict[str, QSpinBox | QCheckBox] = {}
        self.timeout = self._spin(current, "llm_timeout", "Model timeout", suffix=" s")
        self.context_tokens = self._spin(current, "context_tokens", "Model context window", suffix=" tokens")
        self.context_tokens.setSingleStep(1024)
        self.context_tokens.setToolTip(
            "Prompts are built to fit this window with the reply. A server that reports a smaller one is "
            "remembered and wins."
        )
        self.hold_during_dnd = self._check(
            current,
            "hold_during_dnd",
            "Hold notifications during Do Not Disturb",
            "Hold notifications while Do Not Disturb is on (one summary after)",
        )
        self.autostart = QCheckBox("Start Heartbeat Desktop when I log in")
        self.autostart.setChecked(autostart)
        self.autostart.setAccessibleName("Start at login")
        self.test_button = QPushButton("Test &connection")
        self.test_result = plain_label()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Ollama &host:", self.host)
        form.addRow("", self.test_button)
        form.addRow("", self.test_result)
        form.addRow("&Default model:", self.default_model)
        form.addRow("Model t&imeout:", self.timeout)
        form.addRow("Conte&xt window:", self.context_tokens)
        form.addRow("", self.hold_during_dnd)
        form.addRow("", self.autostart)
        api = api_settings(store.settings.get)
        self.api_enabled = QCheckBox("Let scripts on this computer control the app (local API)")
        self.api_enabled.setAccessibleName("Local API")
        self.api_enabled.setChecked(api.enabled)
        self.api_port = QSpinBox()
        low, high = current.bounds("api_port")
        self.api_port.setRange(int(low), int(high))
        self.api_port.setSpecialValueText("any free port")  # 0, as declared: a new port at every start
        self.api_port.setValue(api.port)
        self.api_port.setAccessibleName("Local API port")
        self.api_note = QLabel(
            "Listens on 127.0.0.1 only; every request needs the token from `heartbeat-desktop api info`."
        )
        self.api_note.setWordWrap(True)
        form.addRow("", self.api_enabled)
        form.addRow(_label("API &port:", self.api_port), self.api_port)
        form.addRow("", self.api_note)

    def _spin(self, current: AppSettings, key: str, name: str, suffix: str = "") -> QSpinBox:
        """A spin box for one numeric app setting, within its declared bounds."""
        widget = QSpinBox()
        low, high = current.bounds(key)
        widget.setRange(int(low), int(high))
        widget.setSuffix(suffix)
        widget.setValue(int(getattr(current, key)))
        return self._field(widget, key, name)

    def _check(self, current: AppSettings, key: str, name: str, text: str) -> QCheckBox:
        widget = QCheckBox(text)
        widget.setChecked(bool(getattr(current, key)))
        return self._field(widget, key, name)

    def _field(self, widget: _W, key: str, name: str) -> _W:
        widget.setAccessibleName(name)
        widget.setToolTip(AppSettings.help(key))
        self._fields[key] = widget
        return widget

    def values(self) -> dict[str, str | None]:
        """The page as stored text, checked; a default is stored as nothing (so a new default applies).
        Raises ConfigError for a host that is not a server address."""
        host = self.host.text().strip()
        if host:
            try:
                host = check_host(host)
            except ValueError as exc:
                raise ConfigError(f"Ollama host: {exc}") from None
        out: dict[str, str | None] = {
            "ollama_host": host or None,
            "default_model": self.default_model.text().strip() or None,
        }
        for key, widget in self._fields.items():
            value = widget.isChecked() if isinstance(widget, QCheckBox) else widget.value()
            default = AppSettings.model_fields[key].default
            out[key] = None if value == default else AppSettings.stored(value)
        out["api_enabled"] = "1" if self.api_enabled.isChecked() else "0"
        out["api_port"] = str(self.api_port.value())
        return out
