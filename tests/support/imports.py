"""Which modules an import loads, measured in a fresh interpreter (the tests' own process has loaded all)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def loaded_by(imports: str, candidates: tuple[str, ...]) -> list[str]:
    """The `candidates` that `import {imports}` loads, sorted; Qt offscreen, so no display is needed."""
    code = (
        "import json, os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"import {imports}\n"
        f"print(json.dumps(sorted(m for m in {list(candidates)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))
