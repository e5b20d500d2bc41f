"""The layers, checked by a tool: import-linter's contracts (pyproject.toml, [tool.importlinter]) see every
import, including the ones inside functions that a grep misses; and importing the CLI must not load Qt
(the CLI runs where there is no display, and starts in a fraction of the time without it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_importing_the_cli_loads_no_qt() -> None:
    code = (
        "import sys, heartbeat_desktop.cli, heartbeat_desktop.wiring\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_store_parses_a_threads_config() -> None:
    """#23: a thread's stored config was parsed, each with its own warning handling, at nine call sites.
    The store parses it once (`Thread.config`, `Thread.config_warnings`); nothing else reads the raw text."""
    package = REPO / "heartbeat_desktop"
    allowed = {package / "core" / "config.py", package / "core" / "models.py"}
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path not in allowed and package / "store" not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "config_json" in line or "HeartbeatConfig.load(" in line.split("#")[0]
    ]
    assert offenders == []


def test_the_app_talks_to_its_windows_through_protocols_not_method_names() -> None:
    """#23: windows were driven by `getattr(window, "show_run", None)` and a {"threads": "reload", …} table,
    so renaming a method silently broke notification clicks. qt/window_manager.py's protocols replace both;
    no module of the Qt layer reaches a window's method through a name in a string."""
    qt = REPO / "heartbeat_desktop" / "qt"
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(qt.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"getattr\(\s*(window|self\._open|widget\.window)", line.split("#")[0].split("`")[0])
    ]
    assert offenders == []
