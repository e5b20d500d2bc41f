"""The tray icon: state (idle, running, paused, error) and a tooltip with each thread's next and last run."""

from __future__ import annotations

import textwrap

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from ..core.scheduler_state import SchedulerState
from .icons import TrayState, state_icon
from .plain_text import inert
from .tray_menu import TrayMenu, fmt_time, status_line

TOOLTIP_THREADS = 8
TOOLTIP_REASON = 160  # long enough for a reason and what to do about it
TOOLTIP_WIDTH = 80  # characters a line: a tooltip is as wide as its longest line, which once spanned the screen


# What can be wrong with the app as a whole, gravest first (TrayController.error).
CRASH = "crash"  # heartbeats run but cannot be recorded (qt/app.py `_on_run_crashed`)
HEALTH = "health"  # the model server does not answer (qt/services/health.py)
ERROR_CAUSES: tuple[str, ...] = (CRASH, HEALTH)


def tray_state(state: SchedulerState, error: str | None) -> TrayState:
    if state.in_flight:
        return TrayState.RUNNING
    if state.paused:
        return TrayState.PAUSED
    if error or any(t.failed for t in state.threads):  # a refusal by the app's own rules is not trouble
        return TrayState.ERROR
    return TrayState.IDLE


def tooltip(state: SchedulerState, error: str | None) -> str:
    """The icon's tooltip. Reasons may quote a model or a server: made inert (see plain_text.py)."""
    lines = _tooltip(state, error).split("\n")
    return inert("\n".join(part for line in lines for part in _wrapped(line)))


def _wrapped(line: str) -> list[str]:
    """`line` in lines of at most TOOLTIP_WIDTH characters, continued lines indented under it."""
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    return textwrap.wrap(line, TOOLTIP_WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [line]


def _tooltip(state: SchedulerState, error: str | None) -> str:
    lines = [f"Heartbeat Desktop — {status_line(state, error)}"]
    for t in state.threads[:TOOLTIP_THREADS]:
        if t.running:
            what = "running now"
        elif t.snoozed_until is not None:
            what = f"snoozed until {fmt_time(t.snoozed_until)}"
        elif t.next_due is not None:
            what = f"next {fmt_time(t.next_due)}"
            if t.backing_off:
                failed = t.consecutive_failures
                what += f" (backing off after {failed} failed heartbeat{'s' if failed != 1 else ''})"
        else:
            what = "paused" if (t.paused or state.paused) else "off"
        last = f"last {t.last_shown}" if t.last_status else "never ran"
        if t.last_status in ("failed", "skipped") and t.last_reason:
            reason = t.last_reason
            if len(reason) > TOOLTIP_REASON:
                reason = reason[: TOOLTIP_REASON - 1] + "…"
            # a refusal's reason says "refused: …" itself
            last = f"last {reason}" if t.last_shown == "refused" else f"{last}: {reason}"
        lines.append(f"{t.title}: {what}, {last}")
        if t.note:
            lines.append(f"  {t.title}: {t.note}")
    if len(state.threads) > TOOLTIP_THREADS:
        lines.append(f"… and {len(state.threads) - TOOLTIP_THREADS} more")
    return "\n".join(lines)


class TrayController(QObject):
    activated_primary = Signal()

    def __init__(self, menu: TrayMenu, parent: QObject | None = None, icon: QSystemTrayIcon | None = None) -> None:
        """`icon`: one already shown while the app started (qt/launch.py), adopted rather than drawn again."""
        super().__init__(parent)
        self.menu = menu
        self.icon = icon if icon is not None else QSystemTrayIcon(self)
        self.icon.setParent(self)
        self.icon.setIcon(state_icon(TrayState.IDLE))
        self.icon.setContextMenu(menu)
        self.icon.activated.connect(self._on_activated)
        self.state = SchedulerState(False, False)
        self._errors: dict[str, str] = {}
        self.current = TrayState.IDLE
        self._shown: tuple[SchedulerState, str | None] | None = None
        self.refresh()

    def update(self, state: SchedulerState) -> None:
        self.state = state
        self.refresh()

    @property
    def error(self) -> str | None:
        """What is wrong now, the gravest cause first: runs that cannot be recorded outrank a model
        server that does not answer (both may hold at once, and either may clear first)."""
        for cause in ERROR_CAUSES:
            if cause in self._errors:
                return self._errors[cause]
        return None

    def set_error(self, cause: str, error: str | None) -> None:
        """Set (or clear, with None) what `cause` says is wrong; each cause clears only its own word."""
        if error is None:
            self._errors.pop(cause, None)
        else:
            self._errors[cause] = error
        self.refresh()

    def refresh(self) -> None:
        """Touch Qt only for what changed: every icon, tooltip or menu text set makes Qt's pixmap and font
        caches wake the process a few times over the next 40 s (a bare PySide6 tray does the same), and the
        scheduler republishes its state more often than what the tray shows changes (issue #17)."""
        current = tray_state(self.state, self.error)
        if current != self.current or self._shown is None:
            self.icon.setIcon(state_icon(current))
        self.current = current
        text = tooltip(self.state, self.error)
        if text != self.icon.toolTip():
            self.icon.setToolTip(text)
        shown = (self.state, self.error)
        if shown != self._shown:
            self.menu.update_state(self.state, self.error)
        self._shown = shown

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.activated_primary.emit()
