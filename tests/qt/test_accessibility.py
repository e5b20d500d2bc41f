"""Every control of every window is named for assistive technology and reachable from the keyboard (#27 item 7).

The test asks Qt's accessibility layer, as a screen reader would (`QAccessible.queryAccessibleInterface(...)
.text(Name)`): a control's name comes from its text, its `accessibleName`, or the form label it is the buddy
of. It walks every tab of every window, so a control on a page that is not shown first is checked too.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollBar,
    QTabBar,
    QTabWidget,
    QTextEdit,
    QWidget,
)

from heartbeat_desktop.core.scheduler_state import SchedulerState
from heartbeat_desktop.window_names import WINDOWS
from tests.qt.test_tray import app_env, tray_app, ts  # noqa: F401  (the real app, its windows made by its registry)

INTERACTIVE = (
    QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox, QAbstractItemView, QTextEdit, QPlainTextEdit,
    QAbstractSlider, QTabBar,
)  # fmt: skip
# Parts of a compound control: the control itself carries the name (a spin box's editor, a tab bar's scroll
# arrows, a table's header and scroll bars).
PARTS_OF = (QAbstractSpinBox, QComboBox, QTabBar, QAbstractItemView)


def controls(window: QWidget) -> Iterator[QWidget]:
    """The interactive widgets a user can reach in `window`, on every tab of every tab widget."""
    seen: set[int] = set()
    tabs = window.findChildren(QTabWidget)
    pages = [(t, i) for t in tabs for i in range(t.count()) if t.isTabVisible(i)] or [(None, 0)]
    for tab, index in pages:
        if tab is not None:
            tab.setCurrentIndex(index)
        for widget in window.findChildren(QWidget):
            if id(widget) in seen or not _control(widget) or not widget.isVisibleTo(window):
                continue
            seen.add(id(widget))
            yield widget


def _control(widget: QWidget) -> bool:
    if not isinstance(widget, INTERACTIVE) or isinstance(widget, QScrollBar | QHeaderView):
        return False
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, PARTS_OF):
            return False
        parent = parent.parentWidget()
    return True


def accessible_name(widget: QWidget) -> str:
    """The name a screen reader announces. On Linux Qt gives a combo box's current value as its name ("minutes",
    "Default") and its label through a labelled-by relation: what counts there is the name set on it or the
    label it is the buddy of, since the value says what is chosen, not what is being chosen."""
    if isinstance(widget, QComboBox):
        labels = [label.text() for label in widget.window().findChildren(QLabel) if label.buddy() is widget]
        return (widget.accessibleName() or " ".join(labels)).replace("&", "").strip()
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name).strip() if interface is not None else ""


def describe(widget: QWidget) -> str:
    return f"{type(widget).__name__} {widget.objectName()!r} {getattr(widget, 'text', lambda: '')()!r}"


def focus_chain(window: QWidget) -> set[int]:
    chain, widget = set(), window.nextInFocusChain()
    while widget is not window and id(widget) not in chain:
        chain.add(id(widget))
        widget = widget.nextInFocusChain()
    return chain


def problems_of(name: str, window: QWidget) -> list[str]:
    found = list(controls(window))
    assert len(found) >= 3, (name, [describe(w) for w in found])  # the walk itself found the window's controls
    chain = focus_chain(window)
    problems = [f"{name}: no accessible name: {describe(w)}" for w in found if not accessible_name(w)]
    return problems + [
        f"{name}: not reachable with Tab: {describe(w)}"
        for w in found
        if not w.focusPolicy() & Qt.FocusPolicy.TabFocus or id(w) not in chain
    ]


def mnemonic(text: str) -> str | None:
    """The letter Alt presses for `text` ("Re&name…" → "n"); "&&" is a literal ampersand."""
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


def _mnemonic_texts(window: QWidget) -> Iterator[tuple[str, str]]:
    """(text, what) of everything visible in `window` now that Alt+letter reaches: buttons and check boxes,
    labels with a buddy, group boxes, and the tab titles of the visible tab bars."""
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window):
            continue
        if isinstance(widget, QAbstractButton) or (isinstance(widget, QLabel) and widget.buddy() is not None):
            yield widget.text(), describe(widget)
        elif isinstance(widget, QGroupBox):
            yield widget.title(), f"QGroupBox {widget.title()!r}"
        elif isinstance(widget, QTabBar):
            for i in range(widget.count()):
                if widget.isTabVisible(i):
                    yield widget.tabText(i), f"tab {widget.tabText(i)!r}"


def mnemonic_clashes(name: str, window: QWidget) -> list[str]:
    """Two things on one page (what is visible at once: each tab of each tab widget in turn) that answer to
    the same Alt+letter: Qt then cycles focus between them and presses neither."""
    tabs = window.findChildren(QTabWidget)
    pages = [(t, i) for t in tabs for i in range(t.count()) if t.isTabVisible(i)] or [(None, 0)]
    clashes: set[str] = set()
    for tab, index in pages:
        if tab is not None:
            tab.setCurrentIndex(index)
        letters: dict[str, list[str]] = defaultdict(list)
        for text, what in _mnemonic_texts(window):
            letter = mnemonic(text)
            if letter is not None:
                letters[letter].append(what)
        clashes |= {f"{name}: Alt+{k.upper()}: {' and '.join(sorted(v))}" for k, v in letters.items() if len(v) > 1}
    return sorted(clashes)


def windows_of(qtbot, tray_app) -> Iterator[tuple[str, QWidget]]:  # noqa: F811
    """Every window of the registry, the window shown when there is no tray, and the dialogs they open."""
    for name in WINDOWS:
        window = tray_app.open_window(name)
        assert window is not None
        qtbot.waitExposed(window)
        yield name, window
    settings = tray_app.window_manager.get("settings")
    settings.open_compare()
    yield "compare models", settings.compare
    assert tray_app.fallback is not None  # offscreen has no tray: the app fell back to its window
    yield "fallback", tray_app.fallback


def test_every_control_of_every_window_has_a_name_and_a_keyboard_path(qtbot, tray_app) -> None:  # noqa: F811
    problems = [p for name, window in windows_of(qtbot, tray_app) for p in problems_of(name, window)]
    assert problems == []
    menu = tray_app.tray.icon.contextMenu()
    assert menu.accessibleName() and all(a.text().strip() for a in menu.actions() if not a.isSeparator())


def test_no_two_things_on_one_page_share_a_mnemonic(qtbot, tray_app) -> None:  # noqa: F811
    clashes = [c for name, window in windows_of(qtbot, tray_app) for c in mnemonic_clashes(name, window)]
    menu = tray_app.tray.menu
    until = time.time() + 3600
    snoozed = (ts("work", title="Work & Co", snoozed_until=until), ts("rest", title="Rest", snoozed_until=until))
    for paused, threads in ((False, ()), (True, ()), (False, snoozed), (True, snoozed[:1])):
        # Pause becomes Resume, beside Run now; a snoozed thread's "Resume Work (snoozed until …)" joins them
        menu.update_state(SchedulerState(False, paused, threads), None)
        items = [a for a in menu.actions() if a.isVisible() and a.isEnabled() and not a.isSeparator()]
        letters = [mnemonic(a.text()) for a in items]
        where = f"tray menu (paused={paused}, snoozed={len(threads)})"
        clashes += [f"{where}: Alt+{k}" for k in set(letters) - {None} if letters.count(k) > 1]
        clashes += [f"{where}: no mnemonic: {a.text()!r}" for a in items if mnemonic(a.text()) is None]
    assert "Work && Co (snoozed until" in " ".join(a.text() for a in menu.snooze_actions)  # a title's & is text
    assert clashes == [], "\n".join(clashes)


def test_a_mnemonic_clash_is_found(qtbot) -> None:
    """The check itself: a button and a labelled field on Alt+N clash; a tab title clashes with a control
    on its page but not with one on another tab's page; "&&" is no mnemonic."""
    window = QWidget()
    qtbot.addWidget(window)
    tabs = QTabWidget(window)
    first, second = QWidget(), QWidget()
    tabs.addTab(first, "&App")
    tabs.addTab(second, "T&hread")
    QPushButton("Re&name…", first)
    label, edit = QLabel("&Notes", first), QLineEdit(first)
    label.setBuddy(edit)
    QPushButton("Wait while &away", first)
    QPushButton("&Name", second)  # Alt+N as on the first page: not visible at once, no clash
    QPushButton("Salt && pepper", second)
    window.show()
    assert mnemonic_clashes("probe", window) == [
        "probe: Alt+A: QPushButton '' 'Wait while &away' and tab '&App'",
        "probe: Alt+N: QLabel '' '&Notes' and QPushButton '' 'Re&name…'",
    ]


def test_an_unnamed_control_is_found(qtbot) -> None:
    """The check itself: a bare combo box (named only by its value) and a bare line edit are reported."""
    window = QWidget()
    qtbot.addWidget(window)
    combo, edit, button = QComboBox(window), QLineEdit(window), QPushButton("&Go", window)
    combo.addItems(["minutes", "hours"])
    window.show()
    assert problems_of("probe", window) == [
        "probe: no accessible name: QComboBox '' ''",
        "probe: no accessible name: QLineEdit '' ''",
    ]
    combo.setAccessibleName("Interval unit")
    edit.setAccessibleName("Host")
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    assert problems_of("probe", window) == ["probe: not reachable with Tab: QPushButton '' '&Go'"]
