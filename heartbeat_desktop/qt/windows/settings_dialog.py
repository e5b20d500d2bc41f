"""Settings: every per-thread heartbeat setting (bounds enforced by the widgets) and the app-wide ones.

Edits are drafts until OK, which writes all threads' configs and the app settings in one transaction
(Cancel changes nothing of them) and asks the scheduler to re-plan at once. The Providers tab is the
exception, and says so: each of its buttons stores its change at once (see providers_page.py for why).
The model list, "Test connection" and "Pull" talk to the server on background tasks; the dialog never waits
on the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.app_settings import DEFAULT_MODEL
from ...core.config import ConfigError, HeartbeatConfig
from ...core.ports import StoreError
from ...llm.hosts import resolve_host
from ...llm.router import OLLAMA, split_model
from ...store import SqliteStore
from ...wiring import key_snapshot
from ..icons import app_icon
from ..model_names import set_model_combo_items, set_model_label, short_model_name
from ..services.model_pull import PullProgress, start_pull
from ..services.tasks import Task, Tasks
from .app_page import AppPage
from .providers_page import ProvidersPage, all_models
from .thread_page import ThreadPage
from .window_state import WindowMemory

if TYPE_CHECKING:
    from ...llm import OllamaClient


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
        self._list_problems: dict[str, str] = {}  # provider → why its models could not be listed
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
        layout = QVBoxLayout(self)
        layout.addLayout(self._thread_picker_row())
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
    def _thread_picker_row(self) -> QHBoxLayout:
        top = QHBoxLayout()
        self.thread_label = QLabel("Th&read:")
        self.thread_label.setBuddy(self.thread_box)
        self.thread_note = QLabel("App and Providers are the same for every thread")
        self.thread_note.setVisible(False)
        top.addWidget(self.thread_label)
        top.addWidget(self.thread_box, 1)
        top.addWidget(self.thread_note)
        # The picker chooses whose Thread tab is shown; on the app-wide tabs it chooses nothing (#27 item 8).
        self.tabs.currentChanged.connect(self._thread_picker_ui)
        return top

    def _thread_picker_ui(self) -> None:
        per_thread = self.tabs.currentIndex() == 0
        self.thread_box.setEnabled(per_thread)
        self.thread_label.setEnabled(per_thread)
        self.thread_note.setVisible(not per_thread)

    def _thread_page(self) -> QWidget:
        """The Thread tab (thread_page.py); the dialog keeps the model row's server work."""
        self.thread_page = page = ThreadPage()
        self.warning, self.model, self.model_state = page.warning, page.model, page.model_state
        self.pull_button, self.pull_cancel, self.pull_bar = page.pull_button, page.pull_cancel, page.pull_bar
        self.compare_button = page.compare_button
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
            self.warning.setText("⚠ The stored settings had problems: " + "; ".join(warnings))
            self.warning.setVisible(bool(warnings))

    def write_form(self, c: HeartbeatConfig) -> None:
        self.thread_page.write(c)
        self._model_ui()

    def read_form(self) -> HeartbeatConfig:
        # Over the thread's own config, so what the form does not show (set through the CLI or the API)
        # survives an OK here.
        base = self._drafts.get(self._current) if self._current is not None else None
        return self.thread_page.read(base or HeartbeatConfig())

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
        # A server not answering is not "the model is missing": offering Pull then only fails again.
        self._list_problems = {name: why for name, _, why in (p.partition(": ") for p in problems)}
        self.model.setToolTip("\n".join(problems))
        text = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        set_model_combo_items(self.model, models)
        self.model.setCurrentText(text)
        self.model.blockSignals(False)
        self._model_ui()

    def _on_models_failed(self, message: str) -> None:
        self._server_models = None
        self.model_state.setText(f"Could not list models: {message}")

    def _model_ui(self) -> None:
        """What the server of the chosen model says of it: listed, not listed (Pull where the protocol has
        it: the app's Ollama), or that its list could not be read (then nothing is claimed missing)."""
        name = self.model.currentText().strip()
        if self._server_models is None:
            self.pull_button.setVisible(False)
            return
        effective = name or self.default_model.text().strip() or DEFAULT_MODEL
        present = any(m == effective or m == f"{effective}:latest" for m in self._server_models)
        provider, model = split_model(effective, self._provider_names)
        problem = self._list_problems.get(provider)
        can_pull = provider == OLLAMA
        self.pull_button.setVisible(not present and problem is None and can_pull and self._pull is None)
        short = short_model_name(effective)
        if present:
            set_model_label(self.model_state, f"{short}: on the server", effective)
        elif problem is not None:
            who = "Ollama" if provider == OLLAMA else provider
            set_model_label(self.model_state, f"⚠ Could not list {who}'s models: {problem}")
        elif can_pull:
            set_model_label(self.model_state, f"⚠ {short} is not on the server: Pull it?", effective)
        else:
            said = f"⚠ {provider} does not list {short_model_name(model)!r}: pick one of its models from the list"
            set_model_label(self.model_state, said, model)

    def start_pull(self) -> None:
        name = self.model.currentText().strip() or self.default_model.text().strip() or DEFAULT_MODEL
        self.pull_bar.setVisible(True)
        self.pull_bar.setRange(0, 0)
        self.pull_bar.setFormat(f"Pulling {name}…")
        self.pull_button.setVisible(False)
        self.pull_cancel.setVisible(True)
        host = self.host.text().strip() or None
        self._pull = start_pull(self._tasks, host, name, self._on_pulled, self._on_pull_failed, self._on_pull_progress)

    def _on_pull_progress(self, progress: PullProgress) -> None:
        status, done, total = progress
        if total:
            self.pull_bar.setRange(0, 1000)
            self.pull_bar.setValue(int(1000 * (done or 0) / total))
            self.pull_bar.setFormat(f"{status}: %p%")
        else:
            self.pull_bar.setFormat(status)

    def _on_pulled(self, name: str) -> None:
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
            # The user is in Settings, looking at the host: advice to go there would send them nowhere.
            self.test_result.setText(f"✘ {message.replace('the host in Settings', 'the Ollama host above')}")

        self._run(lambda _t: client.version(), done, failed)
