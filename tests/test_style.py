"""ruff is part of the suite, so style regressions fail the same command as broken behaviour."""

import subprocess
import sys

from tests.conftest import REPO


def test_ruff_clean() -> None:
    # The ruff of this interpreter's environment (the pinned test extra), never some other one on PATH.
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


MODULE_MAX_LINES = 450
FUNCTION_MAX_LINES = 80
COMPLEXITY_MAX = 15


def test_no_module_function_or_branchy_block_outgrows_what_a_newcomer_reads() -> None:
    """#23's limits, kept: a module a person reads in one sitting, functions that fit a screen or two, and no
    block past cyclomatic complexity 15 (ruff's mccabe)."""
    import ast

    too_long: list[str] = []
    for path in sorted((REPO / "heartbeat_desktop").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO)
        if text.count("\n") > MODULE_MAX_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_MAX_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == []
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "heartbeat_desktop", "--select", "C901", "--config",
         f"lint.mccabe.max-complexity={COMPLEXITY_MAX}", "--output-format", "concise"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
