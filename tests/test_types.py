"""The package type-checks ([tool.mypy] in pyproject.toml, with pydantic's plugin): a wrong argument, a
None where a value is needed, or a protocol method a client lacks fails here, not in a user's session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_passes() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_a_word_outside_a_closed_vocabulary_is_a_type_error(tmp_path: Path) -> None:
    """Statuses, triggers, roles and note kinds are Literal types (core/models.py): with the project's
    strict_equality, comparing a run's status with a word it can never hold fails the check above instead
    of being a branch that silently never runs."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from heartbeat_desktop.core.models import RunRecord\n"
        "def f(run: RunRecord) -> bool:\n"
        "    return run.status == 'succeeded' or run.trigger == 'manual'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), str(probe)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "Non-overlapping equality check" in result.stdout and "succeeded" in result.stdout
    assert result.stdout.count("error:") == 1  # 'manual' is a trigger: no error for it
