"""Settings → Thread: one thread's heartbeat settings, built from `HeartbeatConfig`'s declarations.

Each row is made by a helper that reads the field's bounds (`core.fields.field_bounds`) and help (the
tooltip, `HeartbeatConfig.help`) from the declaration and registers how the field is written to and read
from its widget. `write` and `read` then walk that one list: a field is bound once, where its widget is
made, instead of being copied by hand in two methods that drift apart. The few fields whose widget is not
one box (the interval with its unit, the active-hours pair, the time zone, the allowed actions) register
their own pair of functions the same way.

The model row's server work (the list, Pull, Compare) stays with the dialog, which owns the tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...core.config import HeartbeatConfig
from ...core.fields import field_bounds
from ...core.schedule import clock_times
from ..model_names import fit_model_combo
from ..plain_text import plain_label

UNITS = (("seconds", 1), ("minutes", 60), ("hours", 3600))
LOCAL_ZONE = "Local time"
ACTIONS = (("post", "Allow posts"), ("comment", "Allow comments"), ("vote", "Allow votes"))


def split_interval(seconds: int) -> tuple[int, int]:
    """(value, unit factor) in the friendliest unit that represents `seconds` exactly."""
    for _name, factor in reversed(UNITS):
        if seconds % factor == 0 and seconds // factor >= 1:
            return seconds // factor, factor
    return seconds, 1


def _label(text: str, buddy: QWidget) -> QLabel:
    """A form label whose mnemonic focuses `buddy` (rows holding a layout get no buddy on their own)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


def _row(*widgets: QWidget, stretch: bool = True) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    if stretch:
        row.addStretch(1)
    return row


class IntervalEdit(QWidget):
    """A number and a unit; the declared bounds of `every_seconds` (60 s – 24 h) hold in every unit.

    The number box itself takes any number (#27 item 8: with a range of 1–24 in hours, typing 30 was refused
    at its second key and became 3, silently): a number past the bounds is said beside it, and brought within
    them, saying so, when the user leaves the box."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.value = QSpinBox()
        self.value.setAccessibleName("Interval")
        self.value.setRange(1, 99_999)
        self.unit = QComboBox()
        self.unit.setAccessibleName("Interval unit")
        for name, factor in UNITS:
            self.unit.addItem(name, factor)
        self.note = plain_label()
        self.note.setAccessibleName("Interval note")
        self.note.setWordWrap(True)  # a bound's words must not widen the window
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value)
        layout.addWidget(self.unit)
        layout.addWidget(self.note, 1)
        self.low, self.high = (int(b) for b in field_bounds(HeartbeatConfig, "every_seconds"))
        self.value.valueChanged.connect(self._changed)
        self.unit.currentIndexChanged.connect(self._changed)
        self.value.editingFinished.connect(self._bring_within_bounds)

    def _typed(self) -> int:
        return int(self.value.value() * self.unit.currentData())

    def _changed(self) -> None:
        typed = self._typed()
        if typed > self.high:
            self.note.setText(f"⚠ at most {_span(self.high)}")
        elif typed < self.low:
            self.note.setText(f"⚠ at least {_span(self.low)}")
        else:
            self.note.setText("")
        self.changed.emit()

    def _bring_within_bounds(self) -> None:
        typed = self._typed()
        if self.low <= typed <= self.high:
            return
        self.set_seconds(self.seconds())
        self.note.setText(
            f"{_span(typed)} is {'more' if typed > self.high else 'less'} than allowed: set to {_span(self.seconds())}"
        )

    def seconds(self) -> int:
        """What is saved: the number and unit, within the bounds."""
        return min(self.high, max(self.low, self._typed()))

    def set_seconds(self, seconds: int) -> None:
        value, factor = split_interval(seconds)
        self.unit.setCurrentIndex(self.unit.findData(factor))
        self.value.setValue(value)


def _span(seconds: int) -> str:
    value, factor = split_interval(seconds)
    name = next(n for n, f in UNITS if f == factor)
    return f"{value} {name[:-1] if value == 1 else name}"


def align_text(every_seconds: int) -> str:
    """The clock-alignment box's words for this interval (#27 item 8: they were those of 30 min always)."""
    times = clock_times(every_seconds)
    if times is None:
        return f"At fixed clock times (not for {_span(every_seconds)}: it does not divide a day)"
    return f"At fixed clock times ({times}{' each hour' if times.startswith(':') else ''})"


@dataclass(frozen=True)
class _Binding:
    """How one or more fields travel between a config and the page's widgets."""

    write: Callable[[HeartbeatConfig], None]
    read: Callable[[], dict[str, Any]]


class ThreadPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bindings: list[_Binding] = []
        form = QFormLayout(self)
        self.warning = plain_label()
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)
        form.addRow(self.warning)
        self._schedule_rows(form)
        self._model_rows(form)
        self._hours_rows(form)
        self._waiting_rows(form)
        self._action_rows(form)

    # ------------------------------------------------------------------ the field helpers
    def _tip(self, widget: QWidget, key: str, name: str) -> None:
        widget.setAccessibleName(name)
        widget.setToolTip(HeartbeatConfig.help(key))

    def _check(self, key: str, text: str, name: str) -> QCheckBox:
        box = QCheckBox(text)
        self._tip(box, key, name)
        self._bindings.append(_Binding(lambda c: box.setChecked(bool(getattr(c, key))), lambda: {key: box.isChecked()}))
        return box

    def _spin(self, key: str, name: str, *, suffix: str = "", never: str | None = None, bound: bool = True) -> QSpinBox:
        """A spin box within the field's declared bounds; `never` names its 0. `bound=False`: the caller
        reads and writes it (the active hours, which are a pair)."""
        box = QSpinBox()
        low, high = field_bounds(HeartbeatConfig, key)
        box.setRange(int(low), int(high))
        box.setSuffix(suffix)
        if never is not None:
            box.setSpecialValueText(never)
        self._tip(box, key, name)
        if bound:
            self._bindings.append(_Binding(lambda c: box.setValue(int(getattr(c, key))), lambda: {key: box.value()}))
        return box

    def _choice(self, key: str, name: str, items: tuple[tuple[str, str], ...]) -> QComboBox:
        combo = QComboBox()
        for text, value in items:
            combo.addItem(text, value)
        self._tip(combo, key, name)
        self._bindings.append(
            _Binding(
                lambda c: combo.setCurrentIndex(max(0, combo.findData(getattr(c, key)))),
                lambda: {key: combo.currentData()},
            )
        )
        return combo

    def _bind(self, write: Callable[[HeartbeatConfig], None], read: Callable[[], dict[str, Any]]) -> None:
        self._bindings.append(_Binding(write, read))

    # ------------------------------------------------------------------ the rows
    def _schedule_rows(self, form: QFormLayout) -> None:
        self.enabled = self._check("enabled", "Run heartbeats for this thread", "Enabled")
        self.interval = IntervalEdit()
        self.interval.setToolTip(HeartbeatConfig.help("every_seconds"))
        self._bind(
            lambda c: self.interval.set_seconds(c.every_seconds), lambda: {"every_seconds": self.interval.seconds()}
        )
        self.align = self._check("align_to_clock", align_text(1800), "Align to clock")
        self.interval.changed.connect(lambda: self.align.setText(align_text(self.interval.seconds())))
        # Where an action goes; desktop notifications are "Notify on" below, whatever this says (#27 item 8:
        # "Feed only (silent)" beside a ticked "Notify on: posts" said two things at once).
        self.target = self._choice(
            "target",
            "Target",
            (("The feed only", "none"), ("The feed, and as a message in the most recently active thread", "last")),
        )
        form.addRow(self.enabled)
        form.addRow("&Every:", self.interval)
        form.addRow("", self.align)
        form.addRow("&Deliver to:", self.target)

    def _model_rows(self, form: QFormLayout) -> None:
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        fit_model_combo(self.model)  # a .gguf path must not widen the dialog (qt/model_names.py)
        line = self.model.lineEdit()
        assert line is not None  # editable combo boxes have one
        line.setPlaceholderText("app default")
        self._tip(self.model, "model", "Model")
        self._bind(
            lambda c: self.model.setCurrentText(c.model or ""),
            lambda: {"model": self.model.currentText().strip() or None},
        )
        self.model_state = plain_label()
        self.model_state.setWordWrap(True)
        self.pull_button = QPushButton("&Pull")
        self.pull_button.setVisible(False)
        self.pull_cancel = QPushButton("Cancel pull")
        self.pull_cancel.setVisible(False)
        self.pull_bar = QProgressBar()
        self.pull_bar.setVisible(False)
        self.compare_button = QPushButton("Compare m&odels…")
        self.compare_button.setToolTip("Measure which models make the right calls, in which mode (writes nothing)")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        for button in (self.pull_button, self.pull_cancel, self.compare_button):
            model_row.addWidget(button)
        self.decision_mode = self._choice(
            "decision_mode",
            "Decision mode",
            (
                ("Directly: one answer in the decision format", "direct"),
                ("Reason first: a few free sentences, then the decision (two calls)", "reason-first"),
            ),
        )
        self.max_tokens = self._spin("max_tokens", "Max tokens")
        self.max_tokens.setSingleStep(50)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*field_bounds(HeartbeatConfig, "temperature"))
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self._tip(self.temperature, "temperature", "Temperature")
        self._bind(
            lambda c: self.temperature.setValue(c.temperature),
            lambda: {"temperature": round(self.temperature.value(), 2)},
        )
        self.dry_run = self._check("dry_run", "Decide, but write nothing (dry run)", "Dry run")
        form.addRow(_label("&Model:", self.model), model_row)
        form.addRow("", self.model_state)
        form.addRow("", self.pull_bar)
        form.addRow("De&cide:", self.decision_mode)
        form.addRow("Max to&kens:", self.max_tokens)
        form.addRow("Tem&perature:", self.temperature)
        form.addRow("", self.dry_run)

    def _hours_rows(self, form: QFormLayout) -> None:
        self.hours_on = QCheckBox("Only between")
        self.hours_on.setAccessibleName("Active hours")
        self.hours_start = self._spin("active_hours_start", "Active from hour", suffix=":00", bound=False)
        self.hours_end = self._spin("active_hours_end", "Active until hour", suffix=":00", bound=False)
        self.hours_note = QLabel()
        # Wrapped: "overnight: 08:00 until 02:00 next day" on one line widened Settings (677 → 731 px) when
        # switching to a thread with overnight hours
        self.hours_note.setWordWrap(True)
        self._bind(self._write_hours, self._read_hours)
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.timezone.addItem(LOCAL_ZONE, None)
        for zone in sorted(available_timezones()):
            self.timezone.addItem(zone, zone)
        completer = QCompleter(self.timezone.model(), self.timezone)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.timezone.setCompleter(completer)
        self._tip(self.timezone, "timezone", "Time zone")
        self._bind(self._write_zone, self._read_zone)
        hours = _row(self.hours_on, self.hours_start, QLabel("and"), self.hours_end, self.hours_note, stretch=False)
        hours.setStretchFactor(self.hours_note, 1)  # the note has the rest of the row, wrapping only if it must
        form.addRow(_label("Active &hours:", self.hours_on), hours)
        form.addRow("Time &zone:", self.timezone)
        self.hours_on.toggled.connect(self.hours_ui)
        self.hours_start.valueChanged.connect(self.hours_ui)
        self.hours_end.valueChanged.connect(self.hours_ui)

    def _waiting_rows(self, form: QFormLayout) -> None:
        self.always_ask = self._check("always_ask", "Ask the model even when nothing changed", "Always ask")
        self.busy = self._spin("busy_minutes", "Wait after your last message", suffix=" min", never="never wait")
        # Presence: only Linux desktops say whether the user is there; elsewhere these change nothing.
        self.away_locked = self._check("defer_when_locked", "screen locked", "Wait while the screen is locked")
        self.away_idle = self._spin(
            "defer_when_idle_minutes", "Wait while idle for", suffix=" min idle", never="idle: never"
        )
        self.away_battery = self._check("defer_on_battery", "on battery", "Wait while on battery")
        self.away_metered = self._check("defer_on_metered", "metered network", "Wait while on a metered network")
        self.notify_posts = self._check("notify_posts", "posts", "Notify posts")
        self.notify_failures = self._check("notify_failures", "failures", "Notify failures")
        self.notify_comments = self._check("notify_comments", "comments", "Notify comments")
        self.notify_votes = self._check("notify_votes", "votes", "Notify votes")
        form.addRow("", self.always_ask)
        form.addRow("&Wait after your last message:", self.busy)
        away = _row(self.away_locked, self.away_idle, self.away_battery, self.away_metered)
        form.addRow(_label("Wa&it while away:", self.away_locked), away)
        notify = _row(self.notify_posts, self.notify_failures, self.notify_comments, self.notify_votes)
        form.addRow(_label("&Notify on:", self.notify_posts), notify)

    def _action_rows(self, form: QFormLayout) -> None:
        self.allowed: dict[str, QCheckBox] = {}
        for kind, name in ACTIONS:
            box = QCheckBox(kind)
            self._tip(box, "allowed_actions", name)
            self.allowed[kind] = box
        self.allow_post, self.allow_comment, self.allow_vote = (self.allowed[k] for k, _ in ACTIONS)
        self._bind(self._write_actions, self._read_actions)
        self.max_posts = self._spin("max_posts_per_day", "Posts per day at most", suffix=" posts")
        self.max_comments = self._spin("max_comments_per_day", "Comments per day at most", suffix=" comments")
        self.max_votes = self._spin("max_votes_per_day", "Votes per day at most", suffix=" votes")
        form.addRow(_label("A&llowed actions:", self.allow_post), _row(*self.allowed.values()))
        caps: list[QWidget] = [self.max_posts, self.max_comments, self.max_votes, QLabel("a day")]
        form.addRow(_label("At mo&st:", self.max_posts), _row(*caps))
        self.require_new = self._check(
            "require_new_evidence", "Act only on something new since the last heartbeat", "Act only on something new"
        )
        form.addRow("", self.require_new)

    # ------------------------------------------------------------------ the fields that are not one box
    def _write_hours(self, c: HeartbeatConfig) -> None:
        self.hours_on.setChecked(c.active_hours_start is not None)
        self.hours_start.setValue(c.active_hours_start if c.active_hours_start is not None else 9)
        self.hours_end.setValue(c.active_hours_end if c.active_hours_end is not None else 17)

    def _read_hours(self) -> dict[str, Any]:
        on = self.hours_on.isChecked()
        return {
            "active_hours_start": self.hours_start.value() if on else None,
            "active_hours_end": self.hours_end.value() if on else None,
        }

    def _write_zone(self, c: HeartbeatConfig) -> None:
        index = self.timezone.findData(c.timezone)
        self.timezone.setCurrentIndex(index if index >= 0 else 0)

    def _read_zone(self) -> dict[str, Any]:
        text = self.timezone.currentText().strip()
        return {"timezone": None if text in ("", LOCAL_ZONE) else text}

    def _write_actions(self, c: HeartbeatConfig) -> None:
        for kind, box in self.allowed.items():
            box.setChecked(kind in c.allowed_actions)

    def _read_actions(self) -> dict[str, Any]:
        return {"allowed_actions": tuple(kind for kind, box in self.allowed.items() if box.isChecked())}

    # ------------------------------------------------------------------ the page as a whole
    def write(self, config: HeartbeatConfig) -> None:
        for binding in self._bindings:
            binding.write(config)
        self.hours_ui()

    def read(self, base: HeartbeatConfig) -> HeartbeatConfig:
        """The page over `base`: what the page does not show (set through the CLI or the API) survives."""
        updates: dict[str, Any] = {}
        for binding in self._bindings:
            updates.update(binding.read())
        return base.with_updates(**updates)

    def hours_ui(self) -> None:
        on = self.hours_on.isChecked()
        self.hours_start.setEnabled(on)
        self.hours_end.setEnabled(on)
        start, end = self.hours_start.value(), self.hours_end.value()
        if on and start > end:
            # the boxes say the hours; the whole sentence is the tooltip (one line of it widened Settings)
            self.hours_note.setText("overnight, ends next day")
            self.hours_note.setToolTip(f"From {start:02d}:00 until {end:02d}:00 the next day")
            return
        self.hours_note.setToolTip("")
        self.hours_note.setText("(all day)" if not on or start == end else "")
