"""The core, store and llm layers must never pull in Qt (DESIGN.md "Layers")."""

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "heartbeat_desktop"


def test_core_store_llm_do_not_import_qt() -> None:
    modules = sorted(
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for layer in ("core", "store", "llm")
        for p in (PACKAGE / layer).rglob("*.py")
    )
    assert len(modules) >= 10
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "import heartbeat_desktop.cli, heartbeat_desktop.wiring\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "print(len(sys.modules)); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_does_no_io_imports() -> None:
    forbidden = ("sqlite3", "httpx", "ollama", "PySide6", "urllib.request", "socket")
    for path in (PACKAGE / "core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in forbidden:
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path.name} imports {name}"
