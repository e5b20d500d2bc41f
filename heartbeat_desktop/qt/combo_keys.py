"""Alt+letter belongs to the window's mnemonics, never to a combo box's keyboard search.

A focused QComboBox searches its items for any key that has text, Alt held or not. While the button the
mnemonic names is disabled (the editor's "&Dry-run preview" while a thread's file loads or a preview runs)
Qt does not press it and hands Alt+D to the combo, which then jumps to the first item starting with "d"
("Default"): the user's chosen thread is silently switched. Modified keys are kept from combo boxes app-wide
(installed with the QApplication, qt/launch.py), so Alt+letter either presses its control or does nothing.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QComboBox

COMMAND_KEYS = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier


class ComboKeySearchGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(watched, QComboBox):
            return False
        assert isinstance(event, QKeyEvent)
        if watched.isEditable() or not event.text() or not event.modifiers() & COMMAND_KEYS:
            return False
        event.ignore()
        return True  # not searched; the window's shortcuts already had their turn (ShortcutOverride)


def guard_combo_key_search(app: QApplication) -> None:
    """Install the guard once on `app` (idempotent: tests and the launch may both ask)."""
    if app.findChild(ComboKeySearchGuard) is None:
        app.installEventFilter(ComboKeySearchGuard(app))
