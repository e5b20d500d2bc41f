"""Shown when the desktop has no system tray: the tray's actions in a small window, and why it is here."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...core.scheduler_state import SchedulerState
from ..icons import app_icon
from ..plain_text import plain_label
from ..tray_menu import UNLOAD_TIP, WINDOW_ITEMS, TrayActions, status_line


class FallbackWindow(QWidget):
    def __init__(self, actions: TrayActions, *, tray_lost: bool = False) -> None:
        """`tray_lost`: there was a tray, and it went (the panel crashed or restarts): said so, not "none found"."""
        super().__init__()
        self.setWindowTitle("Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(380)
        self._quit = actions.quit_app
        layout = QVBoxLayout(self)
        why = (
            "The system tray went away (the panel stopped or is restarting), so Heartbeat Desktop shows its "
            "controls here until it is back."
            if tray_lost
            else "No system tray was found on this desktop, so Heartbeat Desktop shows its controls here."
        )
        notice = QLabel(f"{why} Heartbeats keep running while this window is open or minimised; closing it quits.")
        notice.setWordWrap(True)
        layout.addWidget(notice)
        self.status = plain_label()
        self.status.setAccessibleName("Status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.threads = QComboBox()
        self.threads.setAccessibleName("Thread")
        self.run_button = QPushButton("&Run now")

        def run_now() -> None:
            if self.threads.currentData():
                actions.run_now(self.threads.currentData())

        self.run_button.clicked.connect(run_now)
        row.addWidget(self.threads, 1)
        row.addWidget(self.run_button)
        layout.addLayout(row)
        self.pause_button = QPushButton("&Pause")
        self.pause_button.clicked.connect(lambda: actions.toggle_pause())
        layout.addWidget(self.pause_button)
        self._snoozed: list[str] = []
        self._resume = actions.resume_snoozed
        self.resume_snoozed = QPushButton("Resume snoo&zed")  # shown while a thread is snoozed (tray_menu)
        self.resume_snoozed.setAccessibleName("Resume the snoozed threads")
        self.resume_snoozed.setVisible(False)
        self.resume_snoozed.clicked.connect(self._resume_snoozed)
        layout.addWidget(self.resume_snoozed)
        self.unload_button: QPushButton | None = None
        if actions.unload_models is not None:  # as in the tray menu (#27 item 8: it was missing here)
            unload = actions.unload_models
            self.unload_button = QPushButton("&Unload models now")
            self.unload_button.setToolTip(UNLOAD_TIP)
            self.unload_button.clicked.connect(lambda: unload())
            layout.addWidget(self.unload_button)
        for key, label in WINDOW_ITEMS:
            if key in actions.windows:
                button = QPushButton(label)
                button.clicked.connect(lambda _=False, k=key: actions.windows[k]())
                layout.addWidget(button)
        self.autostart = QCheckBox("Start at &login")
        self.autostart.setChecked(actions.autostart_enabled())
        self.autostart.toggled.connect(actions.set_autostart)
        layout.addWidget(self.autostart)
        quit_button = QPushButton("&Quit")
        quit_button.clicked.connect(lambda: self._quit())
        layout.addWidget(quit_button)

    def update_state(self, state: SchedulerState, error: str | None) -> None:
        self.status.setText(status_line(state, error, resume_in="this window"))
        self._snoozed = [t.thread_id for t in state.threads if t.snoozed_until is not None]
        self.resume_snoozed.setVisible(bool(self._snoozed) and self._resume is not None)
        self.pause_button.setText("Resu&me" if state.paused else "&Pause")
        current = self.threads.currentData()
        self.threads.clear()
        for t in state.threads:
            self.threads.addItem(t.title, t.thread_id)
        if current is not None:
            index = self.threads.findData(current)
            if index >= 0:
                self.threads.setCurrentIndex(index)

    def _resume_snoozed(self) -> None:
        for thread_id in self._snoozed:
            if self._resume is not None:
                self._resume(thread_id)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        self._quit()
