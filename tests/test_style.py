"""ruff is part of the suite, so style regressions fail the same command as broken behaviour."""

import subprocess
import sys

from tests.conftest import REPO


def test_ruff_clean() -> None:
    # The ruff of this interpreter's environment (the pinned test extra), never some other one on PATH.
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
