"""The "Not useful" button of the Feed and History (#26): the user's word on one of the agent's actions, with
an optional reason picked from its menu. What it records is `core/feedback.py`'s; the action itself stays."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from ...core.feedback import REASON_LABELS, FeedbackReason


class NotUsefulButton(QToolButton):
    """Click: not useful, no reason; its menu: one of the reasons. `chosen(reason)` is called with either."""

    def __init__(self, chosen: Callable[[FeedbackReason | None], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText("&Not useful")
        self.setAccessibleName("Mark the agent's action as not useful")
        self.setToolTip("Tell the app this action was not useful; the menu says why. The action itself stays.")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(self)
        menu.setAccessibleName("Why it was not useful")
        for key, label in REASON_LABELS.items():
            action = menu.addAction(label.capitalize())
            action.triggered.connect(lambda _checked=False, key=key: chosen(key))
        self.setMenu(menu)
        self.clicked.connect(lambda: chosen(None))
