"""The first-run window ("Set up…"): find the model servers on this computer, pick one model, try one dry-run
heartbeat, and say in two lines what a heartbeat will do and how to pause it.

Shown by itself at a start only while setup was never completed or dismissed and no working model is
configured (qt/first_run.py decides, off the GUI thread); the tray menu's *Set up…* and `heartbeat-desktop
open setup` show it any time. Closing it counts as dismissed. Looking (the network: every usual address
at once, each with a short deadline, llm/discover.py) and trying (storing the choice, then a real dry-run
heartbeat on a connection of its own) run as background tasks: the window, and the tray, never wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QFont, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ... import first_run
from ...core.app_settings import DEFAULT_MODEL
from ...core.models import RunRecord
from ...core.ports import StoreError
from ...core.present import describe_run
from ...llm import discover
from ...store import SqliteStore
from ..icons import app_icon
from ..model_names import set_model_label, set_model_tree_item, short_model_name
from ..plain_text import breakable, plain_label
from ..services.model_pull import PullProgress, percent, start_pull
from ..services.tasks import Task, Tasks
from .window_state import WindowMemory

if TYPE_CHECKING:
    from ...core.runner import HeartbeatRunner

log = logging.getLogger(__name__)

_SERVER = Qt.ItemDataRole.UserRole  # a model item's (FoundServer, model name)

INTRO = (
    "Heartbeat Desktop asks a language model, on a server you run, what to do at each heartbeat. "
    "It looks for one on this computer's usual addresses: Ollama (:11434), LM Studio (:1234), llama.cpp's "
    "server (:8080), llama-cpp-python and vLLM (:8000)."
)


class SetupWindow(QWidget):
    """`look` finds the servers (a parameter so a caller may narrow it; the addresses themselves come from
    `HEARTBEAT_SETUP_ADDRESSES` or the usual ones). `store` is the GUI thread's connection, for the one small
    write of "dismissed"; the choice and the dry run use a connection of their own on their task."""

    def __init__(
        self,
        store: Callable[[], SqliteStore],
        db_path: Path,
        memory: WindowMemory,
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
        on_applied: Callable[[], None],
        look: Callable[[], discover.Look] = discover.look,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Set up — Heartbeat Desktop")
        self.setWindowIcon(app_icon())
        self._store, self._db_path, self._memory = store, db_path, memory
        self._make_runner, self._on_applied, self._look = make_runner, on_applied, look
        self._tasks = Tasks(self)
        self._looking: Task | None = None
        self._trying: Task | None = None
        self._looked = False
        self._pulling: Task | None = None
        self._ollama: discover.FoundServer | None = None  # the Ollama found, for Pull

        title = QLabel("Set up Heartbeat Desktop")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        intro = plain_label(INTRO)
        intro.setWordWrap(True)
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("What was found")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.servers = QTreeWidget()
        self.servers.setAccessibleName("Model servers and their models")
        self.servers.setHeaderLabels(["Server and model", "Address"])
        self.servers.setColumnWidth(0, 330)
        self.servers.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # what is left long after model_names
        self.look_button = QPushButton("&Look again")
        self.use_button = QPushButton("&Use this model and try a heartbeat")
        self.use_button.setDefault(True)
        self.result = plain_label("")
        self.result.setWordWrap(True)
        self.result.setAccessibleName("The dry-run heartbeat's decision")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.explain = [plain_label(""), plain_label("")]
        self.done_button = QPushButton("&Done")
        self.pull_row = self._make_pull_row()

        buttons = QHBoxLayout()
        buttons.addWidget(self.look_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        for widget in (title, intro, self.status):
            layout.addWidget(widget)
        layout.addWidget(self.servers, 1)
        layout.addWidget(self.pull_row)
        layout.addStretch(0)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        for line in self.explain:
            line.setWordWrap(True)
            layout.addWidget(line)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.done_button)
        layout.addLayout(bottom)

        self.look_button.clicked.connect(self.look_again)
        self.use_button.clicked.connect(self.use_selected)
        self.done_button.clicked.connect(self.close)
        self.pull_button.clicked.connect(self.pull)
        self.pull_name.returnPressed.connect(self.pull)
        self.servers.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.servers.itemDoubleClicked.connect(lambda *_: self.use_selected())
        if not memory.restore(self, "setup"):
            self.resize(640, 560)
        self._update_buttons()

    def _make_pull_row(self) -> QWidget:
        """An Ollama with no model (or not the one wanted): pull one here, as Settings' Pull does. Shown only
        when an Ollama was found."""
        self.pull_name = QLineEdit(DEFAULT_MODEL)
        self.pull_name.setAccessibleName("Model to pull into Ollama")
        self.pull_button = QPushButton("&Pull into Ollama")
        self.pull_button.setAccessibleName("Pull the model into the Ollama found")
        self.pull_status = plain_label("")
        self.pull_status.setAccessibleName("Pull progress")
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Model to pull:")
        label.setBuddy(self.pull_name)
        for widget in (label, self.pull_name, self.pull_button, self.pull_status):
            layout.addWidget(widget)
        layout.addStretch(1)
        row.setVisible(False)
        return row

    # ------------------------------------------------------------------ looking
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._looked:
            self.look_again()

    def look_again(self) -> None:
        """Every address at once, off the GUI thread."""
        if self._looking is not None:
            return
        self._looked = True
        self.status.setText("Looking for model servers…")
        self.servers.clear()
        self.servers.show()
        look = self._look
        self._looking = self._tasks.start(lambda _t: look(), self._on_look, self._on_look_failed)
        self._update_buttons()

    def _on_look(self, result: object) -> None:
        self._looking = None
        found = cast(discover.Look, result)
        first_model: QTreeWidgetItem | None = None
        for server in found.servers:
            top = QTreeWidgetItem([server.label, server.base_url])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a server is not a choice: its models are
            self.servers.addTopLevelItem(top)
            for model in server.models:
                item = QTreeWidgetItem(["", ""])
                set_model_tree_item(item, 0, model)  # a .gguf path by its file name; the full name kept
                item.setData(0, _SERVER, (server, model))
                top.addChild(item)
                first_model = first_model or item
            if not server.models:
                empty = QTreeWidgetItem([server.note or "serves no model yet: pull or load one, then Look again", ""])
                empty.setFlags(Qt.ItemFlag.ItemIsEnabled)
                top.addChild(empty)
            top.setExpanded(True)
        self._ollama = next((server for server in found.servers if server.kind == "ollama"), None)
        self.pull_row.setVisible(self._ollama is not None)
        self.status.setText(_found_text(found))
        self.servers.setVisible(bool(found.servers))  # the way to install Ollama gets the room instead
        if first_model is not None:
            self.servers.setCurrentItem(first_model)
        self._update_buttons()

    def _on_look_failed(self, message: str) -> None:
        self._looking = None
        self.status.setText(f"Could not look for model servers: {message}")
        self._update_buttons()

    # ------------------------------------------------------------------ pulling
    def pull(self) -> None:
        """Download a model into the Ollama found (off the GUI thread, with progress), then look again."""
        name, server = self.pull_name.text().strip(), self._ollama
        if not name or server is None or self._pulling is not None:
            return
        self.pull_status.setText(f"Pulling {name}…")
        self._pulling = start_pull(
            self._tasks, server.base_url, name, self._on_pulled, self._on_pull_failed, self._on_progress
        )
        self._update_buttons()

    def _on_progress(self, progress: PullProgress) -> None:
        done = percent(progress)
        self.pull_status.setText(progress[0] if done is None else f"{progress[0]}: {done} %")

    def _on_pulled(self, name: str) -> None:
        self._pulling = None
        self.pull_status.setText(f"{name} pulled.")
        self._update_buttons()
        self.look_again()

    def _on_pull_failed(self, message: str) -> None:
        self._pulling = None
        self.pull_status.setText(f"Pull failed: {message}")
        self._update_buttons()

    # ------------------------------------------------------------------ trying
    def selected(self) -> tuple[discover.FoundServer, str] | None:
        item = self.servers.currentItem()
        data = item.data(0, _SERVER) if item is not None else None
        return cast(tuple[discover.FoundServer, str], data) if data else None

    def use_selected(self) -> None:
        """Store the choice and run one dry-run heartbeat with it, on a connection of the task's own."""
        choice = self.selected()
        if choice is None or self._trying is not None:
            return
        server, model = choice
        db_path, make_runner = self._db_path, self._make_runner

        def work(_task: Task) -> tuple[first_run.Chosen, RunRecord, tuple[str, str]]:
            with SqliteStore.worker(db_path) as store:
                chosen = first_run.choose(store, server, model)
                run = make_runner(store).run(first_run.DEFAULT_THREAD, trigger="manual", dry_run=True)
                return chosen, run, first_run.explanation(store)

        trying = f"Trying a heartbeat with {short_model_name(model)} on {server.label}… (nothing is written)"
        set_model_label(self.result, trying, model)
        for line in self.explain:
            line.setText("")
        self._trying = self._tasks.start(work, self._on_tried, self._on_try_failed)
        self._update_buttons()

    def _on_tried(self, result: object) -> None:
        self._trying = None
        chosen, run, lines = cast(tuple[first_run.Chosen, RunRecord, tuple[str, str]], result)
        self._on_applied()  # the scheduler and the health check read the new model now
        verdict = describe_run(run)
        head = "Dry-run heartbeat" if run.status != "failed" else "The dry-run heartbeat failed"
        stored = f"Every thread without a model of its own now uses {short_model_name(chosen.model)}."
        notes = "".join(f" {note}." for note in chosen.own_models)
        # the reply may hold a long unbroken string: it wraps anywhere instead of widening the window
        set_model_label(self.result, breakable(f"{stored}{notes}\n{head}: {verdict}"), chosen.model)
        short = short_model_name(chosen.model)
        for label, line in zip(self.explain, lines, strict=True):  # they name the model too
            set_model_label(label, line.replace(chosen.model, short), *([chosen.model] if chosen.model in line else []))
        self._update_buttons()

    def _on_try_failed(self, message: str) -> None:
        self._trying = None
        self.result.setText(breakable(f"Could not use that model: {message}"))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self._looking is not None or self._trying is not None
        self.look_button.setEnabled(self._looking is None)
        self.pull_button.setEnabled(self._pulling is None and self._looking is None)
        self.use_button.setEnabled(not busy and self.selected() is not None)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing is "dismissed": the window is not offered at a start again (the menu still has it)."""
        self._tasks.cancel_all()
        self._memory.save(self, "setup")
        try:
            if not first_run.done(self._store()):
                first_run.mark_done(self._store())
        except StoreError as exc:  # a database that cannot be written must not keep the window open
            log.warning("Could not record that setup was dismissed: %s", exc)
        super().closeEvent(event)


def _found_text(found: discover.Look) -> str:
    """What the look found, in words; the way to install Ollama when nothing answered."""
    silent = "; ".join(f"{address}: {why}" for address, why in found.silent.items())
    if not found.servers:
        return f"{first_run.INSTALL_OLLAMA}\n(Asked {silent}.)"
    models = sum(len(s.models) for s in found.servers)
    what = f"Found {len(found.servers)} model server{'s' * (len(found.servers) != 1)} serving {models} model"
    what += "s" * (models != 1) + (". Pick one." if models else ". None serves a model yet: pull or load one.")
    return what + (f"\nNothing at {silent}." if silent else "")
