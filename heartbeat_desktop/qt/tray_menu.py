"""The tray's context menu, built from the state the scheduler worker published (never from the DB)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from ..core.scheduler_state import SchedulerState
from ..window_names import WINDOWS

# Window items, in menu order. Each appears only when the app provides an opener for it.
WINDOW_ITEMS = tuple(WINDOWS.items())
# The menu's first line changes as heartbeats run; the menu is made as wide as this line once, and the line is
# cut to its width, so the menu keeps its width and place (#27 item 8: it shifted sideways with each change).
# The tooltip has the whole text.
WIDEST_STATUS = "Next heartbeat at Wed 17:30 (backing off after failures)"


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    when = datetime.fromtimestamp(ts)
    today = datetime.now().date()
    if when.date() == today:
        return when.strftime("%H:%M")
    return when.strftime("%a %H:%M")


def mnemonic_of(text: str) -> str | None:
    """The letter Alt (or a menu's key) presses for `text` ("Re&name…" → "n"); "&&" is a literal ampersand."""
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


def free_mnemonic(text: str, taken: set[str]) -> str:
    """`text` with a mnemonic on its first letter or digit not in `taken` (a title's own "&" made literal): a
    menu item made at run time ("Resume Work (snoozed until 15:30)") is reached by key like the others."""
    for i, char in enumerate(text):
        if char.isalnum() and char.lower() not in taken:
            return text[:i].replace("&", "&&") + "&" + text[i:].replace("&", "&&")
    return text.replace("&", "&&")


def status_line(state: SchedulerState, error: str | None, resume_in: str = "the menu") -> str:
    """The first thing the tray says (the menu's first line, the tooltip's, the fallback window's). A snooze
    is said as a pause is, with until when and where to take it back (`resume_in`)."""
    if state.in_flight:
        return f"Running {state.in_flight} heartbeat{'s' if state.in_flight > 1 else ''}…"
    if state.paused:
        return "Paused"
    if error:
        return f"Error: {error}"
    failing = [t.title for t in state.threads if t.failed]
    if failing:  # the icon is red for these, until each one's next heartbeat succeeds
        names = ", ".join(failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
        return f"Last heartbeat failed: {names}"
    snoozed = [t for t in state.threads if t.snoozed_until is not None]
    if snoozed:
        first = min(snoozed, key=lambda t: t.snoozed_until or 0)
        who = "Snoozed" if len(state.threads) == 1 else f"{first.title} snoozed"
        return f"{who} until {fmt_time(first.snoozed_until)} — Resume in {resume_in}"
    if state.next_due is not None:
        first = min((t for t in state.threads if t.next_due is not None), key=lambda t: t.next_due or 0)
        why = " (backing off after failures)" if first.backing_off else ""
        return f"Next heartbeat at {fmt_time(state.next_due)}{why}"
    return "No heartbeat scheduled" if state.started else "Starting…"


@dataclass(frozen=True)
class TrayActions:
    """What the tray menu and its no-tray fallback window can do: the same actions, one definition."""

    run_now: Callable[[str], None]
    toggle_pause: Callable[[], None]
    windows: dict[str, Callable[[], object]]
    autostart_enabled: Callable[[], bool]
    set_autostart: Callable[[bool], None]
    quit_app: Callable[[], None]
    # Free the memory the model server holds for our models now (absent: the item is not shown).
    unload_models: Callable[[], None] | None = None
    # Take a thread's snooze back (a notification's "Snooze this thread 1 h"): one item per snoozed thread.
    resume_snoozed: Callable[[str], None] | None = None


UNLOAD_TIP = "Free the memory of the model servers the threads use (Ollama can; others are said to keep theirs)"


class TrayMenu(QMenu):
    """Rebuilt in place on every state change; actions are plain callables passed in."""

    def __init__(self, actions: TrayActions) -> None:
        super().__init__()
        self.setAccessibleName("Heartbeat Desktop menu")
        self._actions = actions
        self.status_action = QAction(self)
        self.status_action.setEnabled(False)
        self.run_menu = QMenu("&Run now", self)
        self.pause_action = QAction("&Pause", self)
        self.pause_action.triggered.connect(lambda: self._actions.toggle_pause())
        self.autostart_action = QAction("Start at &login", self, checkable=True)
        self.autostart_action.toggled.connect(self._on_autostart)
        self.unload_action = QAction("&Unload models now", self)
        self.unload_action.setToolTip(UNLOAD_TIP)
        self.unload_action.triggered.connect(lambda: self._actions.unload_models and self._actions.unload_models())
        self.quit_action = QAction("&Quit", self)
        self.quit_action.triggered.connect(lambda: self._actions.quit_app())
        self.window_actions: dict[str, QAction] = {}
        for key, label in WINDOW_ITEMS:
            if key in actions.windows:
                action = QAction(label, self)
                action.triggered.connect(lambda _=False, k=key: self._actions.windows[k]())
                self.window_actions[key] = action
        self.addAction(self.status_action)
        self.addSeparator()
        self.addMenu(self.run_menu)
        self.addAction(self.pause_action)
        if actions.unload_models is not None:
            self.addAction(self.unload_action)
        self.snooze_actions: list[QAction] = []  # "Resume Work (snoozed until 15:30)", before this separator
        self._after_controls = self.addSeparator()
        for action in self.window_actions.values():
            self.addAction(action)
        if self.window_actions:
            self.addSeparator()
        self.addAction(self.autostart_action)
        self.addAction(self.quit_action)
        self.aboutToShow.connect(self._sync_autostart)
        self.status_action.setText(WIDEST_STATUS)
        self.setMinimumWidth(self.sizeHint().width())  # measured once, in the menu's own font and style
        self._metrics = self.fontMetrics()
        self._status_px = self._metrics.horizontalAdvance(WIDEST_STATUS)
        self.update_state(SchedulerState(False, False), None)

    def update_state(self, state: SchedulerState, error: str | None) -> None:
        line = status_line(state, error)
        self.status_action.setText(self._metrics.elidedText(line, Qt.TextElideMode.ElideRight, self._status_px))
        self.pause_action.setText("Resu&me" if state.paused else "&Pause")
        self.run_menu.clear()
        titles = [t.title.lower() for t in state.threads]
        for t in state.threads:
            # Threads by their titles, as everywhere else; the id only tells apart two of the same title.
            label = f"{t.title} ({t.thread_id})" if titles.count(t.title.lower()) > 1 else t.title
            if t.running:
                label += " — running…"
            elif t.paused:
                label += " — paused"
            elif t.queued:
                label += " — queued"
            action = self.run_menu.addAction(label)
            action.setEnabled(not t.running and not t.queued)
            action.triggered.connect(lambda _=False, tid=t.thread_id: self._actions.run_now(tid))
        self.run_menu.setEnabled(bool(state.threads))
        self._update_snoozed(state)

    def _update_snoozed(self, state: SchedulerState) -> None:
        for action in self.snooze_actions:
            self.removeAction(action)
            action.deleteLater()
        self.snooze_actions = []
        resume = self._actions.resume_snoozed
        if resume is None:
            return
        taken = {m for a in self.actions() if (m := mnemonic_of(a.text()))}
        for t in state.threads:
            if t.snoozed_until is not None:
                text = free_mnemonic(f"Resume {t.title} (snoozed until {fmt_time(t.snoozed_until)})", taken)
                taken.add(mnemonic_of(text) or "")
                action = QAction(text, self)
                action.triggered.connect(lambda _=False, tid=t.thread_id: resume(tid))
                self.snooze_actions.append(action)
        self.insertActions(self._after_controls, self.snooze_actions)

    def _sync_autostart(self) -> None:
        self.autostart_action.blockSignals(True)
        self.autostart_action.setChecked(self._actions.autostart_enabled())
        self.autostart_action.blockSignals(False)

    def _on_autostart(self, on: bool) -> None:
        self._actions.set_autostart(on)
