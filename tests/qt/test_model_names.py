"""Rough edges: a llama.cpp server names its model by the file it loaded, and the full path overflowed Set up's
list and labels, the Compare models table and Settings' model row. They show the file name (elided in the
middle if still long), with the full name as tooltip and accessible description; what is stored stays whole.
Real widgets (offscreen), a real store, servers on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.llm import OllamaClient, discover
from heartbeat_desktop.qt.model_names import FULL_NAME, short_model_name
from heartbeat_desktop.qt.windows.compare_dialog import CompareModelsDialog
from heartbeat_desktop.qt.windows.settings_dialog import SettingsDialog
from heartbeat_desktop.qt.windows.setup_window import SetupWindow
from heartbeat_desktop.qt.windows.window_state import WindowMemory
from heartbeat_desktop.store import SqliteStore
from heartbeat_desktop.wiring import make_runner
from tests.support.ollama_server import OllamaServer, Reply, Respond
from tests.support.provider_servers import ProviderServer
from tests.test_cli_decisions import SUITE

GGUF = "/home/u/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"
LONG = "/srv/llm/weights/Meta-Llama-3.1-8B-Instruct-abliterated-uncensored-Q4_K_M.gguf"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (GGUF, "qwen2.5-1.5b-instruct-q4_k_m.gguf"),
        (f"llama:{GGUF}", "llama:qwen2.5-1.5b-instruct-q4_k_m.gguf"),
        ("C:\\models\\smol.gguf", "smol.gguf"),
        (LONG, "Meta-Llama-3.1-8B-I…censored-Q4_K_M.gguf"),
        ("qwen/qwen2.5-7b-instruct", "qwen/qwen2.5-7b-instruct"),  # LM Studio's ids are no paths
        ("llama3.2:latest", "llama3.2:latest"),
    ],
)
def test_a_model_name_for_a_narrow_place(name: str, shown: str) -> None:
    assert short_model_name(name) == shown and len(shown.split(":")[-1]) <= 40


def test_set_up_lists_a_gguf_path_by_its_file_name_and_stores_the_whole_name(
    qtbot, store: SqliteStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llama = ProviderServer("openai", key=None, models=(GGUF,), owned_by="llamacpp")
    llama.routes["/props"] = {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1}
    monkeypatch.setenv(discover.ADDRESSES_ENV, llama.base_url.removesuffix("/v1"))
    try:
        window = SetupWindow(
            lambda: store, data_dir / "heartbeat.db", WindowMemory(data_dir), lambda s: make_runner(s, data_dir),
            lambda: None,
        )  # fmt: skip
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.selected() is not None, timeout=5000)
        item = window.servers.topLevelItem(0).child(0)
        assert item.text(0) == "qwen2.5-1.5b-instruct-q4_k_m.gguf"
        assert item.data(0, Qt.ItemDataRole.ToolTipRole) == GGUF
        assert item.data(0, Qt.ItemDataRole.AccessibleDescriptionRole) == GGUF
        assert window.selected()[1] == GGUF
        window.use_button.click()
        qtbot.waitUntil(lambda: "Dry-run heartbeat" in window.result.text(), timeout=10000)
        assert "now uses llamacpp:qwen2.5-1.5b-instruct-q4_k_m.gguf." in window.result.text()
        assert GGUF not in window.result.text() and GGUF in window.result.toolTip()
        assert GGUF in window.result.accessibleDescription()
        said = window.explain[0].text()
        assert "asks llamacpp:qwen2.5-1.5b-instruct-q4_k_m.gguf" in said
        assert window.explain[0].toolTip() == f"llamacpp:{GGUF}"
        assert store.settings.app().default_model == f"llamacpp:{GGUF}"  # stored whole
        window.close()
    finally:
        llama.stop()


def test_compare_models_shows_file_names_and_asks_the_whole_name(
    qtbot, store: SqliteStore, data_dir: Path, ollama: OllamaServer, tmp_path: Path
) -> None:
    def answer(_body: dict[str, Any]) -> Reply:
        return Reply(json.dumps({"action": "none", "reason": "quiet"}))

    ollama.default = Respond(answer)
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE, encoding="utf-8")
    dialog = CompareModelsDialog(store.db.path, data_dir, lambda _s: OllamaClient(ollama.url), [LONG], [LONG])
    qtbot.addWidget(dialog)
    dialog.show()
    listed = dialog.models.item(0)
    assert listed.text() == short_model_name(LONG) and listed.toolTip() == LONG
    assert listed.data(Qt.ItemDataRole.AccessibleDescriptionRole) == LONG
    assert dialog.chosen_models() == [LONG]
    dialog.mode_boxes["reason-first"].setChecked(False)
    dialog.set_suite(suite)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    assert {r.body["model"] for r in ollama.chat_requests()} == {LONG}
    cell = dialog.table.item(0, 0)
    assert cell.text() == "Meta-Llama-3.1-8B-I…censored-Q4_K_M.gguf" and cell.toolTip() == LONG
    assert cell.data(FULL_NAME) == LONG
    dialog.resize(760, 620)
    assert dialog.table.columnWidth(0) < 360  # the column is the short name's, not the path's


def test_settings_model_row_keeps_the_whole_name_and_says_the_short_one(
    qtbot, store: SqliteStore, memory_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = OllamaServer(models=(LONG, "llama3.2:latest")).start()
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    store.threads.set_config("default", HeartbeatConfig(model=LONG))
    try:
        dialog = SettingsDialog(
            store, WindowMemory(memory_dir), autostart_enabled=lambda: False, set_autostart=lambda _on: None,
            on_applied=lambda: None, data_dir=store.db.path.parent,
        )  # fmt: skip
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog._server_models is not None, timeout=5000)
        assert dialog.model.currentText() == LONG  # what is edited and stored is the whole name
        index = dialog.model.findText(LONG)
        assert dialog.model.itemData(index, Qt.ItemDataRole.ToolTipRole) == LONG
        assert dialog.model_state.text() == f"{short_model_name(LONG)}: on the server"
        assert dialog.model_state.toolTip() == LONG and dialog.model_state.accessibleDescription() == LONG
        assert dialog.model.sizeHint().width() < 400  # a long name does not widen the dialog
        dialog.accept()
        assert store.threads.get("default").config.model == LONG
    finally:
        server.stop()


@pytest.fixture
def memory_dir(tmp_path: Path) -> Path:
    path = tmp_path / "memory"
    path.mkdir()
    return path
