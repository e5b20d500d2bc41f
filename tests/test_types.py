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
