"""Settings: every per-thread heartbeat setting (bounds enforced by the widgets) and the app-wide ones.

Edits are drafts until OK, which writes all threads' configs and the app settings in one transaction
(Cancel changes nothing) and asks the scheduler to re-plan at once. The model list, "Test connection"
and "Pull" talk to the server on background tasks; the dialog never waits on the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast
from zoneinfo import available_timezones

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.app_settings import DEFAULT_MODEL
from ...core.config import ConfigError, HeartbeatConfig
from ...core.fields import field_bounds
from ...core.ports import StoreError
from ...llm.hosts import resolve_host
from ...llm.router import OLLAMA, split_model
from ...store import SqliteStore
from ...wiring import key_snapshot
from ..icons import app_icon
from ..plain_text import plain_label
from ..services.tasks import Task, Tasks
from .app_page import AppPage
from .providers_page import ProvidersPage, all_models
from .window_state import WindowMemory

if TYPE_CHECKING:
    from ...llm import OllamaClient

UNITS = (("seconds", 1), ("minutes", 60), ("hours", 3600))
LOCAL_ZONE = "Local time"
_W = TypeVar("_W", QSpinBox, QCheckBox)


def split_interval(seconds: int) -> tuple[int, int]:
    """(value, unit factor) in the friendliest unit that represents `seconds` exactly."""
    for _name, factor in reversed(UNITS):
        if seconds % factor == 0 and seconds // factor >= 1:
            return seconds // factor, factor
    return seconds, 1


def _spin(key: str) -> QSpinBox:
    """A spin box for one of the thread config's integer fields, within its declared bounds."""
    box = QSpinBox()
    low, high = field_bounds(HeartbeatConfig, key)
    box.setRange(int(low), int(high))
    return box


def _label(text: str, buddy: QWidget) -> QLabel:
    """A form label whose mnemonic focuses `buddy` (rows holding a layout get no buddy on their own)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


class IntervalEdit(QWidget):
    """A number and a unit; the declared bounds of `every_seconds` (60 s – 24 h) hold in every unit."""

    def __init__(self) -> None:
        super().__init__()
        self.value = QSpinBox()
        self.value.setAccessibleName("Interval")
        self.unit = QComboBox()
        self.unit.setAccessibleName("Interval unit")
        for name, factor in UNITS:
            self.unit.addItem(name, factor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value)
        layout.addWidget(self.unit)
        self.unit.currentIndexChanged.connect(self._bounds)
        self._bounds()

    def _bounds(self) -> None:
        factor = self.unit.currentData()
        low, high = (int(b) for b in field_bounds(HeartbeatConfig, "every_seconds"))
        self.value.setRange(max(1, -(-low // factor)), high // factor)

    def seconds(self) -> int:
        return self.value.value() * self.unit.currentData()

    def set_seconds(self, seconds: int) -> None:
        value, factor = split_interval(seconds)
        self.unit.setCurrentIndex(self.unit.findData(factor))
        self.value.setValue(value)


class SettingsDialog(QDialog):
    def __init__(
        self,
        store: SqliteStore,
        memory: WindowMemory,
        *,
        autostart_enabled: Callable[[], bool],
        set_autostart: Callable[[bool], None],
        on_applied: Callable[[], None],
        data_dir: Path,
        thread_id: str | None = None,
    ) -> None:
        super().__init__()
        self._data_dir = data_dir
        self.setWindowTitle("Settings — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._store = store
        self._memory = memory
        self._set_autostart = set_autostart
        self._on_applied = on_applied
        self._drafts: dict[str, HeartbeatConfig] = {}
        self._warnings: dict[str, list[str]] = {}
        self._current: str | None = None
        self._server_models: list[str] | None = None
        self._ollama_problem: str | None = None
        self._models_load = 0  # which model-list load is the newest (see load_models)
        self._provider_names: set[str] = set()
        self._tasks = Tasks(self)
        self._pull: Task | None = None

        self.thread_box = QComboBox()
        self.thread_box.setAccessibleName("Thread")
        for thread in store.threads.list():
            self._drafts[thread.id] = thread.config
            self._warnings[thread.id] = list(thread.config_warnings)
            self.thread_box.addItem(
                thread.title if thread.title.lower() == thread.id else f"{thread.title} ({thread.id})", thread.id
            )

        self.tabs = QTabWidget()
        self.tabs.addTab(self._thread_page(), "&Thread")
        self.app_page = AppPage(store, autostart_enabled())
        # The dialog's OK, Test connection and the model list read these of the page's fields.
        page = self.app_page
        self.host, self.default_model, self.autostart = page.host, page.default_model, page.autostart
        self.timeout, self.context_tokens, self.hold_during_dnd = (
            page.timeout,
            page.context_tokens,
            page.hold_during_dnd,
        )
        self.test_button, self.test_result = page.test_button, page.test_result
        self.api_enabled, self.api_port = page.api_enabled, page.api_port
        self.test_button.clicked.connect(self.test_connection)
        self.host.editingFinished.connect(self.load_models)
        self.tabs.addTab(self.app_page, "&App")
        self.providers_page = ProvidersPage(store, self._data_dir, lambda: self.host.text().strip() or None)
        self.providers_page.changed.connect(self.load_models)
        self.tabs.addTab(self.providers_page, "Pro&viders")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        label = QLabel("T&hread:")
        label.setBuddy(self.thread_box)
        top.addWidget(label)
        top.addWidget(self.thread_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs)
        layout.addWidget(self.buttons)

        self.thread_box.currentIndexChanged.connect(self._switch_thread)
        if thread_id is not None and self.thread_box.findData(thread_id) >= 0:
            self.thread_box.setCurrentIndex(self.thread_box.findData(thread_id))
        self._switch_thread()
        if not memory.restore(self, "settings"):
            self.resize(560, 640)
        self.load_models()

    # ------------------------------------------------------------------ pages
    def _thread_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.warning = plain_label()
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)
        form.addRow(self.warning)
        self.enabled = QCheckBox("Run heartbeats for this thread")
        self.interval = IntervalEdit()
        self.align = QCheckBox("At fixed clock times (30 min → :00 and :30)")
        self.target = QComboBox()
        self.target.addItem("Feed only (silent)", "none")
        self.target.addItem("Feed and the most recently active thread", "last")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.model.lineEdit()
        assert line is not None  # editable combo boxes have one
        line.setPlaceholderText("app default")
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
        model_row.addWidget(self.pull_button)
        model_row.addWidget(self.pull_cancel)
        model_row.addWidget(self.compare_button)
        self.decision_mode = QComboBox()
        self.decision_mode.addItem("Directly: one answer in the decision format", "direct")
        self.decision_mode.addItem("Reason first: a few free sentences, then the decision (two calls)", "reason-first")
        self.max_tokens = _spin("max_tokens")
        self.max_tokens.setSingleStep(50)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*field_bounds(HeartbeatConfig, "temperature"))
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.dry_run = QCheckBox("Decide, but write nothing (dry run)")
        self.hours_on = QCheckBox("Only between")
        self.hours_start = _spin("active_hours_start")
        self.hours_start.setSuffix(":00")
        self.hours_end = _spin("active_hours_end")
        self.hours_end.setSuffix(":00")
        self.hours_note = QLabel()
        hours_row = QHBoxLayout()
        for widget in (self.hours_on, self.hours_start, QLabel("and"), self.hours_end, self.hours_note):
            hours_row.addWidget(widget)
        hours_row.addStretch(1)
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
        self.always_ask = QCheckBox("Ask the model even when nothing changed")
        self.busy = _spin("busy_minutes")
        self.busy.setSuffix(" min")
        self.busy.setSpecialValueText("never wait")
        # Presence: only Linux desktops say whether the user is there; elsewhere these change nothing.
        self.away_locked = QCheckBox("screen locked")
        self.away_idle = _spin("defer_when_idle_minutes")
        self.away_idle.setSuffix(" min idle")
        self.away_idle.setSpecialValueText("idle: never")
        self.away_battery = QCheckBox("on battery")
        self.away_metered = QCheckBox("metered network")
        away_row = QHBoxLayout()
        for widget in (self.away_locked, self.away_idle, self.away_battery, self.away_metered):
            away_row.addWidget(widget)
        away_row.addStretch(1)
        self.notify_posts = QCheckBox("posts")
        self.notify_failures = QCheckBox("failures")
        self.notify_comments = QCheckBox("comments")
        self.notify_votes = QCheckBox("votes")
        notify_row = QHBoxLayout()
        for notify_box in (self.notify_posts, self.notify_failures, self.notify_comments, self.notify_votes):
            notify_row.addWidget(notify_box)
        notify_row.addStretch(1)

        names: dict[QWidget, str] = {
            self.enabled: "Enabled",
            self.align: "Align to clock",
            self.target: "Target",
            self.model: "Model",
            self.decision_mode: "Decision mode",
            self.max_tokens: "Max tokens",
            self.temperature: "Temperature",
            self.dry_run: "Dry run",
            self.hours_on: "Active hours",
            self.hours_start: "Active from hour",
            self.hours_end: "Active until hour",
            self.timezone: "Time zone",
            self.always_ask: "Always ask",
            self.busy: "Wait after your last message",
            self.away_locked: "Wait while the screen is locked",
            self.away_idle: "Wait while idle for",
            self.away_battery: "Wait while on battery",
            self.away_metered: "Wait while on a metered network",
            self.notify_posts: "Notify posts",
            self.notify_failures: "Notify failures",
            self.notify_comments: "Notify comments",
            self.notify_votes: "Notify votes",
        }
        for named, name in names.items():
            named.setAccessibleName(name)
        form.addRow(self.enabled)
        form.addRow("&Every:", self.interval)
        form.addRow("", self.align)
        form.addRow("&Deliver to:", self.target)
        form.addRow(_label("&Model:", self.model), model_row)
        form.addRow("", self.model_state)
        form.addRow("", self.pull_bar)
        form.addRow("De&cide:", self.decision_mode)
        form.addRow("Max &tokens:", self.max_tokens)
        form.addRow("Tem&perature:", self.temperature)
        form.addRow("", self.dry_run)
        form.addRow(_label("Active &hours:", self.hours_on), hours_row)
        form.addRow("Time &zone:", self.timezone)
        form.addRow("", self.always_ask)
        form.addRow("&Wait after your last message:", self.busy)
        form.addRow(_label("Wait while &away:", self.away_locked), away_row)
        form.addRow(_label("&Notify on:", self.notify_posts), notify_row)
        self.allow_post = QCheckBox("post")
        self.allow_comment = QCheckBox("comment")
        self.allow_vote = QCheckBox("vote")
        allow_row = QHBoxLayout()
        for allow, name in (
            (self.allow_post, "Allow posts"),
            (self.allow_comment, "Allow comments"),
            (self.allow_vote, "Allow votes"),
        ):
            allow.setAccessibleName(name)
            allow_row.addWidget(allow)
        allow_row.addStretch(1)
        caps_row = QHBoxLayout()
        self.max_posts, self.max_comments, self.max_votes = QSpinBox(), QSpinBox(), QSpinBox()
        for box, key, noun in (
            (self.max_posts, "max_posts_per_day", "posts"),
            (self.max_comments, "max_comments_per_day", "comments"),
            (self.max_votes, "max_votes_per_day", "votes"),
        ):
            low, high = field_bounds(HeartbeatConfig, key)
            box.setRange(int(low), int(high))
            box.setSuffix(f" {noun}")
            box.setAccessibleName(f"{noun.capitalize()} per day at most")
            caps_row.addWidget(box)
        caps_row.addWidget(QLabel("a day"))
        caps_row.addStretch(1)
        form.addRow(_label("A&llowed actions:", self.allow_post), allow_row)
        form.addRow(_label("At &most:", self.max_posts), caps_row)

        self.hours_on.toggled.connect(self._hours_ui)
        self.hours_start.valueChanged.connect(self._hours_ui)
        self.hours_end.valueChanged.connect(self._hours_ui)
        self.model.currentTextChanged.connect(self._model_ui)
        self.pull_button.clicked.connect(self.start_pull)
        self.pull_cancel.clicked.connect(self.cancel_pull)
        self.compare_button.clicked.connect(self.open_compare)
        return page

    def open_compare(self) -> None:
        """The evaluation, on the models the picker knows; the thread's own (or the default) checked."""
        from ...wiring import make_router
        from .compare_dialog import CompareModelsDialog

        known = [self.model.itemText(i) for i in range(self.model.count())]
        current = self.model.currentText().strip() or self.default_model.text().strip() or DEFAULT_MODEL
        data_dir = self._data_dir
        self.compare = CompareModelsDialog(
            Path(self._store.db.path),
            data_dir,
            lambda store: make_router(store, data_dir),
            known,
            [current],
            self,
        )
        self.compare.show()

    # ------------------------------------------------------------------ drafts
    def _switch_thread(self) -> None:
        if self._current is not None:
            try:
                self._drafts[self._current] = self.read_form()
            except ConfigError as exc:  # widgets enforce bounds; only a bad zone name can land here
                QMessageBox.warning(self, "Settings", str(exc))
        self._current = self.thread_box.currentData()
        if self._current is not None:
            self.write_form(self._drafts[self._current])
            warnings = self._warnings.get(self._current) or []
            self.warning.setText("⚠ The stored settings had problems; defaults are shown for: " + "; ".join(warnings))
            self.warning.setVisible(bool(warnings))

    def write_form(self, c: HeartbeatConfig) -> None:
        self.enabled.setChecked(c.enabled)
        self.interval.set_seconds(c.every_seconds)
        self.align.setChecked(c.align_to_clock)
        self.target.setCurrentIndex(self.target.findData(c.target))
        self.model.setCurrentText(c.model or "")
        self.decision_mode.setCurrentIndex(max(0, self.decision_mode.findData(c.decision_mode)))
        self.max_tokens.setValue(c.max_tokens)
        self.temperature.setValue(c.temperature)
        self.dry_run.setChecked(c.dry_run)
        self.hours_on.setChecked(c.active_hours_start is not None)
        self.hours_start.setValue(c.active_hours_start if c.active_hours_start is not None else 9)
        self.hours_end.setValue(c.active_hours_end if c.active_hours_end is not None else 17)
        index = self.timezone.findData(c.timezone)
        self.timezone.setCurrentIndex(index if index >= 0 else 0)
        self.always_ask.setChecked(c.always_ask)
        self.busy.setValue(c.busy_minutes)
        self.away_locked.setChecked(c.defer_when_locked)
        self.away_idle.setValue(c.defer_when_idle_minutes)
        self.away_battery.setChecked(c.defer_on_battery)
        self.away_metered.setChecked(c.defer_on_metered)
        self.notify_posts.setChecked(c.notify_posts)
        self.notify_failures.setChecked(c.notify_failures)
        self.notify_comments.setChecked(c.notify_comments)
        self.notify_votes.setChecked(c.notify_votes)
        self.allow_post.setChecked("post" in c.allowed_actions)
        self.allow_comment.setChecked("comment" in c.allowed_actions)
        self.allow_vote.setChecked("vote" in c.allowed_actions)
        self.max_posts.setValue(c.max_posts_per_day)
        self.max_comments.setValue(c.max_comments_per_day)
        self.max_votes.setValue(c.max_votes_per_day)
        self._hours_ui()
        self._model_ui()

    def read_form(self) -> HeartbeatConfig:
        zone_text = self.timezone.currentText().strip()
        zone = None if zone_text in ("", LOCAL_ZONE) else zone_text
        model = self.model.currentText().strip() or None
        hours = self.hours_on.isChecked()
        # Start from the thread's own config, so what the form does not show (set through the CLI or the
        # API) survives an Apply here.
        base = self._drafts.get(self._current) if self._current is not None else None
        return (base or HeartbeatConfig()).with_updates(
            enabled=self.enabled.isChecked(),
            every_seconds=self.interval.seconds(),
            align_to_clock=self.align.isChecked(),
            target=self.target.currentData(),
            model=model,
            decision_mode=self.decision_mode.currentData(),
            max_tokens=self.max_tokens.value(),
            temperature=round(self.temperature.value(), 2),
            dry_run=self.dry_run.isChecked(),
            active_hours_start=self.hours_start.value() if hours else None,
            active_hours_end=self.hours_end.value() if hours else None,
            timezone=zone,
            always_ask=self.always_ask.isChecked(),
            busy_minutes=self.busy.value(),
            defer_when_locked=self.away_locked.isChecked(),
            defer_when_idle_minutes=self.away_idle.value(),
            defer_on_battery=self.away_battery.isChecked(),
            defer_on_metered=self.away_metered.isChecked(),
            notify_posts=self.notify_posts.isChecked(),
            notify_failures=self.notify_failures.isChecked(),
            notify_comments=self.notify_comments.isChecked(),
            notify_votes=self.notify_votes.isChecked(),
            allowed_actions=tuple(
                kind
                for kind, box in (("post", self.allow_post), ("comment", self.allow_comment), ("vote", self.allow_vote))
                if box.isChecked()
            ),
            max_posts_per_day=self.max_posts.value(),
            max_comments_per_day=self.max_comments.value(),
            max_votes_per_day=self.max_votes.value(),
        )

    def _hours_ui(self) -> None:
        on = self.hours_on.isChecked()
        self.hours_start.setEnabled(on)
        self.hours_end.setEnabled(on)
        start, end = self.hours_start.value(), self.hours_end.value()
        if not on:
            self.hours_note.setText("(all day)")
        elif start > end:
            self.hours_note.setText(f"overnight: {start:02d}:00 until {end:02d}:00 next day")
        elif start == end:
            self.hours_note.setText("(all day)")
        else:
            self.hours_note.setText("")

    # ------------------------------------------------------------------ OK / Cancel
    def accept(self) -> None:
        try:
            if self._current is not None:
                self._drafts[self._current] = self.read_form()
            self._store.apply_settings(self._drafts, self.app_page.values())
        except (ConfigError, StoreError) as exc:
            QMessageBox.critical(self, "Settings", f"Nothing was saved: {exc}")
            return
        self._set_autostart(self.autostart.isChecked())
        self._on_applied()
        self._finish()
        super().accept()

    def reject(self) -> None:
        self._finish()
        super().reject()

    def _finish(self) -> None:
        self.cancel_pull()
        self._tasks.cancel_all()
        self._memory.save(self, "settings")

    # ------------------------------------------------------------------ server
    def _client(self) -> OllamaClient:
        from ...llm import OllamaClient  # Test connection and Pull only: opening Settings does not load it

        return OllamaClient(self.host.text().strip() or None)

    def _run(self, fn: Callable[[Task], object], done: Callable[[object], None], failed: Callable[[str], None]) -> Task:
        return self._tasks.start(fn, done, failed)

    def load_models(self) -> None:
        """Every provider's models (Ollama's bare, others as provider:model), fetched on a task."""
        host = self.host.text().strip() or None
        providers, keys = self._store.providers.list(), key_snapshot(self._store, self._data_dir)
        self._provider_names = {p.name for p in providers}
        self.model_state.setText(f"Loading models from {resolve_host(host)} and your providers…")
        # Loads can overlap (a provider saved, then its key set): only the newest one's answer counts, or
        # a slow earlier list — made before the key existed — would replace the right one.
        self._models_load = generation = self._models_load + 1

        def work(_task: Task) -> tuple[list[str], list[str]]:
            return all_models(providers, host, keys)

        def done(result: object) -> None:
            if generation == self._models_load:
                self._on_models(result)

        def failed(message: str) -> None:
            if generation == self._models_load:
                self._on_models_failed(message)

        self._run(work, done, failed)

    def _on_models(self, result: object) -> None:
        models, problems = cast(tuple[list[str], list[str]], result)
        self._server_models = models
        # Ollama not answering is not "the model is missing": offering Pull then only fails again.
        self._ollama_problem = next((p.split(": ", 1)[1] for p in problems if p.startswith(f"{OLLAMA}: ")), None)
        self.model.setToolTip("\n".join(problems))
        text = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(models)
        self.model.setCurrentText(text)
        self.model.blockSignals(False)
        self._model_ui()

    def _on_models_failed(self, message: str) -> None:
        self._server_models = None
        self.model_state.setText(f"Could not list models: {message}")

    def _model_ui(self) -> None:
        name = self.model.currentText().strip()
        if self._server_models is None:
            self.pull_button.setVisible(False)
            return
        effective = name or self.default_model.text().strip() or DEFAULT_MODEL
        present = any(m == effective or m == f"{effective}:latest" for m in self._server_models)
        pulling = self._pull is not None
        provider, _model = split_model(effective, self._provider_names)
        if provider == OLLAMA and not present and self._ollama_problem:
            self.pull_button.setVisible(False)
            self.model_state.setText(f"⚠ Could not list Ollama's models: {self._ollama_problem}")
            return
        self.pull_button.setVisible(not present and not pulling and provider == OLLAMA)
        self.model_state.setText(
            f"{effective}: installed on the server" if present else f"⚠ {effective} is not on the server: Pull it?"
        )

    def start_pull(self) -> None:
        name = self.model.currentText().strip() or self.default_model.text().strip() or DEFAULT_MODEL
        client = self._client()

        def work(task: Task) -> str:
            client.pull(name, lambda status, done, total: task.progress.emit((status, done, total)), task.cancelled)
            return name

        self.pull_bar.setVisible(True)
        self.pull_bar.setRange(0, 0)
        self.pull_bar.setFormat(f"Pulling {name}…")
        self.pull_button.setVisible(False)
        self.pull_cancel.setVisible(True)
        self._pull = Task(work, self)
        self._pull.progress.connect(self._on_pull_progress)
        self._pull.done.connect(self._on_pulled)
        self._pull.failed.connect(self._on_pull_failed)
        self._pull.start()

    def _on_pull_progress(self, progress: object) -> None:
        status, done, total = cast(tuple[str, int | None, int | None], progress)
        if total:
            self.pull_bar.setRange(0, 1000)
            self.pull_bar.setValue(int(1000 * (done or 0) / total))
            self.pull_bar.setFormat(f"{status}: %p%")
        else:
            self.pull_bar.setFormat(status)

    def _on_pulled(self, name: object) -> None:
        self._pull = None
        self.pull_cancel.setVisible(False)
        self.pull_bar.setRange(0, 1)
        self.pull_bar.setValue(1)
        self.pull_bar.setFormat(f"{name} pulled")
        self.load_models()

    def _on_pull_failed(self, message: str) -> None:
        self._pull = None
        self.pull_cancel.setVisible(False)
        self.pull_bar.setVisible(False)
        self.model_state.setText(f"Pull failed: {message}")
        self._model_ui()

    def cancel_pull(self) -> None:
        if self._pull is None:
            return
        self._pull.cancelled.set()
        self._pull = None
        self.pull_cancel.setVisible(False)
        self.pull_bar.setVisible(False)
        self.model_state.setText("Pull cancelled.")
        self._model_ui()

    def test_connection(self) -> None:
        client = self._client()
        self.test_result.setText(f"Connecting to {client.host}…")
        self.test_button.setEnabled(False)

        def done(version: object) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"✔ Ollama {version} at {client.host}")
            self.load_models()

        def failed(message: str) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"✘ {message}")

        self._run(lambda _t: client.version(), done, failed)
