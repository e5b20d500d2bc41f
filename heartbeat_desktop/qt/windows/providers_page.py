"""Settings → Providers: add, edit and remove model providers, set or clear their keys, test them.

Keys go straight to the OS keyring (on a background task: a keyring may block to ask for unlocking) and
are never shown again — the page only says whether one is set.

Each of the page's buttons (Save provider, Remove, Set key, Clear key) stores its change when pressed, and the
dialog's OK and Cancel do not apply to this page: the page says so above the list and after each change, since
it sits beside a Cancel that undoes the other tabs. Why not make Cancel undo these too: a key lives in the OS
keyring, which cannot take part in the dialog's database transaction, and undoing it would mean holding the
old key in this process to write it back (or losing it); a provider row could be undone, but then a provider
would be undone while its key stayed, which is worse than a rule that holds for the whole page. A provider is
also usable the moment it is saved (the model list below shows its models), so it behaves as stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.ports import LLMError, StoreError
from ...core.providers import KINDS, Provider
from ...llm import probe
from ...llm.hosts import host_problem, resolve_host
from ...llm.router import OLLAMA, KeySource, ModelRouter
from ...secrets import open_secrets
from ...store import SqliteStore
from ...wiring import key_snapshot
from ..plain_text import plain_label
from ..services.tasks import Task, Tasks

DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://127.0.0.1:11434",
}


PAGE_NOTE = (
    "Each button on this page stores its change when you press it: OK and Cancel below do not apply here "
    "(Cancel does not undo a provider saved or removed, or a key set or cleared). Keys are kept in your "
    "system's keyring, never in Heartbeat Desktop's files."
)
STORED = "stored now; Cancel does not undo it"


class ProvidersPage(QWidget):
    changed = Signal()

    def __init__(self, store: SqliteStore, data_dir: Path, ollama_host: Callable[[], str | None]) -> None:
        super().__init__()
        self._store = store
        self._data_dir = data_dir
        self._ollama_host = ollama_host
        self._tasks = Tasks(self)
        self._keys: dict[str, bool] = {}

        note = QLabel(PAGE_NOTE)
        note.setWordWrap(True)
        self.list = QListWidget()
        self.list.setAccessibleName("Providers")
        self.name = QLineEdit()
        self.name.setAccessibleName("Provider name")
        self.name.setPlaceholderText("e.g. gpubox, groq, lmstudio")
        self.kind = QComboBox()
        self.kind.setAccessibleName("Protocol")
        for kind in KINDS:
            self.kind.addItem({"ollama": "Ollama", "openai": "OpenAI-compatible", "anthropic": "Anthropic"}[kind], kind)
        self.url = QLineEdit()
        self.url.setAccessibleName("Base URL")
        self.new_button = QPushButton("N&ew provider")
        self.save_button = QPushButton("&Save provider")
        self.remove_button = QPushButton("Re&move")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("API key")
        self.key.setPlaceholderText("paste a key to set or replace it")
        self.set_key_button = QPushButton("Set &key")
        self.clear_key_button = QPushButton("C&lear key")
        self.test_button = QPushButton("Test &connection")
        self.status = plain_label()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Provider status")

        form = QFormLayout()
        form.addRow("&Name:", self.name)
        form.addRow("&Protocol:", self.kind)
        form.addRow("Base &URL:", self.url)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.save_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        form.addRow("", row)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.set_key_button)
        key_row.addWidget(self.clear_key_button)
        key_label = QLabel("API ke&y:")
        key_label.setBuddy(self.key)
        form.addRow(key_label, key_row)
        form.addRow("", self.test_button)
        form.addRow("", self.status)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.list, 1)
        layout.addLayout(form)

        self.list.currentItemChanged.connect(lambda *_: self._show_selected())
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.new_button.clicked.connect(self.new_provider)
        self.save_button.clicked.connect(self.save_provider)
        self.remove_button.clicked.connect(self.remove_provider)
        self.set_key_button.clicked.connect(self.set_key)
        self.clear_key_button.clicked.connect(self.clear_key)
        self.test_button.clicked.connect(self.test)
        self.reload()

    # ------------------------------------------------------------------ list
    def providers(self) -> list[Provider]:
        return [
            Provider(OLLAMA, "ollama", resolve_host(self._ollama_host()), builtin=True),
            *self._store.providers.list(),
        ]

    def reload(self, select: str | None = None) -> None:
        current = select or (self.list.currentItem().data(256).name if self.list.currentItem() else None)
        self.list.clear()
        for provider in self.providers():
            item = QListWidgetItem(self._label(provider))
            item.setData(256, provider)
            self.list.addItem(item)
            if provider.name == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._refresh_keys()

    def _label(self, p: Provider) -> str:
        key = self._keys.get(p.name)
        key_text = "" if key is None else (" — key set" if key else " — no key")
        builtin = " (built-in)" if p.builtin else ""
        return f"{p.name}: {p.kind} at {p.base_url}{builtin}{key_text}"

    def _refresh_keys(self) -> None:
        """Whether each provider has a key, from the store (no keyring needed). A provider from before the
        app kept track is checked once on a task and the answer recorded."""
        self._keys = {}
        unknown: list[str] = []
        for provider in self.providers():
            state = self._store.providers.key_state(provider.name)[0]
            if state is None:
                unknown.append(provider.name)
            else:
                self._keys[provider.name] = state
        self._relabel()
        if not unknown:
            return
        data_dir = self._data_dir

        def work(_task: Task) -> dict[str, bool]:
            secrets = open_secrets(data_dir)
            return {name: bool(secrets.get(name)) for name in unknown}

        def done(keys: object) -> None:
            assert isinstance(keys, dict)
            for name, has_key in keys.items():
                self._store.providers.set_key_state(name, has_key)
            self._keys.update(keys)
            self._relabel()

        self._start(work, done, lambda message: self.status.setText(f"⚠ {message}"))

    def _relabel(self) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setText(self._label(item.data(256)))

    def selected(self) -> Provider | None:
        item = self.list.currentItem()
        return item.data(256) if item is not None else None

    def _show_selected(self) -> None:
        provider = self.selected()
        if provider is None:
            self.set_key_button.setEnabled(False)
            self.clear_key_button.setEnabled(False)
            self.test_button.setEnabled(False)
            return
        for button in (self.set_key_button, self.clear_key_button, self.test_button):
            button.setEnabled(True)
        self.name.setText(provider.name)
        self.kind.setCurrentIndex(self.kind.findData(provider.kind))
        self.url.setText(provider.base_url)
        editable = provider.name != OLLAMA
        for widget in (self.name, self.kind, self.url, self.save_button):
            widget.setEnabled(editable)
        self.remove_button.setEnabled(editable and not provider.builtin)
        self.status.clear()

    def new_provider(self) -> None:
        """Clear the form for a provider that does not exist yet."""
        self.list.setCurrentRow(-1)
        self.name.clear()
        self.kind.setCurrentIndex(self.kind.findData("openai"))
        self.url.setText(DEFAULT_URLS["openai"])
        for widget in (self.name, self.kind, self.url, self.save_button):
            widget.setEnabled(True)
        self.remove_button.setEnabled(False)
        self.status.setText("Name the provider, pick its protocol and URL, then Save; then set its key.")
        self.name.setFocus()

    def _kind_changed(self) -> None:
        if not self.url.text().strip() or self.url.text().strip() in DEFAULT_URLS.values():
            self.url.setText(DEFAULT_URLS[self.kind.currentData()])

    # ------------------------------------------------------------------ actions
    def save_provider(self) -> None:
        try:
            provider = self._store.providers.save(
                self.name.text().strip(), self.kind.currentData(), self.url.text().strip()
            )
        except StoreError as exc:
            QMessageBox.warning(self, "Provider", str(exc))
            return
        self.reload(select=provider.name)
        self.status.setText(f"Saved {provider.name} ({STORED}).")
        self.changed.emit()

    def remove_provider(self) -> None:
        provider = self.selected()
        if provider is None or provider.builtin:
            return
        threads, default = self._store.provider_users(provider.name)
        uses = ["threads " + ", ".join(threads)] if threads else []
        uses += ["the default model"] if default else []
        warning = (
            f"\n\nIt is used by {' and '.join(uses)}: their heartbeats fail from then on, until their model is "
            "changed (Thread tab's Model, or the App tab's default model)."
            if uses
            else ""
        )
        answer = QMessageBox.question(
            self,
            "Remove provider",
            f"Remove {provider.name} and its key?{warning}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,  # removing is not the default
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        had_key = self._store.providers.key_state(provider.name)[0] is not False
        self._store.providers.remove(provider.name)
        name, data_dir = provider.name, self._data_dir

        def removed(_result: object = None) -> None:
            self.reload()
            self.status.setText(f"Removed {name} ({STORED}).")

        if had_key:
            self._start(lambda _t: open_secrets(data_dir).delete(name), removed, self._failed)
        else:
            removed()
        self.changed.emit()

    def set_key(self) -> None:
        provider = self.selected()
        key = self.key.text().strip()
        if provider is None or not key:
            return
        self.key.clear()  # the widget does not keep it
        name, data_dir = provider.name, self._data_dir

        def work(_task: Task) -> str:
            secrets = open_secrets(data_dir)
            secrets.set(name, key)
            return secrets.description

        def done(where: object) -> None:
            self._store.providers.set_key_state(name, True)
            self.status.setText(f"Key for {name} stored in {where} ({STORED}).")
            self._refresh_keys()
            self.changed.emit()

        self._start(work, done, self._failed)

    def clear_key(self) -> None:
        provider = self.selected()
        if provider is None:
            return
        name, data_dir = provider.name, self._data_dir

        def done(_result: object) -> None:
            self._store.providers.set_key_state(name, False)
            self.status.setText(f"Key for {name} removed ({STORED}).")
            self._refresh_keys()

        self._start(lambda _t: open_secrets(data_dir).delete(name), done, self._failed)

    def test(self) -> None:
        provider = self.selected()
        if provider is None:
            return
        providers, host = self.providers()[1:], self._ollama_host()
        keys = key_snapshot(self._store, self._data_dir)
        self.status.setText(f"Testing {provider.name}…")

        def work(_task: Task) -> str:
            router = ModelRouter(providers, host, keys)
            client = router.client_for(provider.name)
            models = client.list_models()
            return f"✔ {provider.name} answered: {len(models)} models"

        self._start(work, self.status.setText, lambda message: self.status.setText(f"✘ {message}"))

    def _failed(self, message: str) -> None:
        self.status.setText(f"✘ {message}")

    def _start(self, fn: Callable[[Task], Any], done: Callable[[Any], None], failed: Callable[[str], None]) -> Task:
        return self._tasks.start(fn, done, failed)


def _local_ollama_models(configured: str | None) -> list[str]:
    """The app's own Ollama, keyless: a plain GET (llm/probe.py), so opening Settings does not load the
    model clients into the tray app for good (issue #17)."""
    host = resolve_host(configured)
    problem = host_problem(host)
    if problem is not None:
        raise LLMError("unreachable", f"the model server address is not usable: {problem}")
    return probe.model_names(host)


def all_models(providers: list[Provider], ollama_host: str | None, keys: KeySource) -> tuple[list[str], list[str]]:
    """Every provider's models, named as a thread config takes them; plus one line per provider that failed.

    Runs on a background task. Ollama's models are listed bare; others as `provider:model`. A hosted
    service without a key is skipped quietly (it cannot be used yet anyway); a provider the user added is
    asked even without one (a local server needs none).
    """
    router = ModelRouter(providers, ollama_host, keys)
    names: list[str] = []
    problems: list[str] = []
    for provider in [Provider(OLLAMA, "ollama", ""), *providers]:
        try:
            if provider.builtin and provider.kind != "ollama" and not keys.key(provider.name, 5.0):
                continue
            if provider.name == OLLAMA and not keys.key(OLLAMA, 5.0):
                models = _local_ollama_models(ollama_host)
            else:
                models = router.client_for(provider.name, key_wait_s=5.0).list_models()
        except Exception as exc:
            problems.append(f"{provider.name}: {exc}")
            continue
        names.extend(models if provider.name == OLLAMA else [f"{provider.name}:{m}" for m in models])
    return names, problems
