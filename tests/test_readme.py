"""The README's set-up commands are the ones CI runs, and they work as written on a fresh machine."""

from __future__ import annotations

import os
import re

from tests.conftest import REPO


def _opening_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", head, re.S)]


def test_the_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    install, test = _opening_commands()
    assert install.endswith(".venv/bin/heartbeat-desktop") and "\n" not in install
    assert test.endswith("python -m pytest") and "\n" not in test
    assert test in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    # sudo does not exist on a root-only machine; the script raises itself with sudo when it must
    assert not install.startswith("sudo") and not test.startswith("sudo")
    script = (REPO / "packaging" / "install-system-deps.sh").read_text(encoding="utf-8")
    assert 'if [ "$(id -u)" -ne 0 ]; then\n  exec sudo' in script
    for command in (install, test):
        for path in re.findall(r"packaging/[\w.-]+\.sh", command):
            assert os.access(REPO / path, os.X_OK), path


def test_the_readme_says_how_to_get_the_command_on_path() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in text and "pipx install ." in text


def test_the_readme_states_the_built_in_suites_size_and_every_column() -> None:
    """The eval section once said 28 situations and 7 columns long after the suite had 40 and the table 12."""
    import tomllib

    from heartbeat_desktop.core.evaluation import TABLE_COLUMNS

    text = (REPO / "README.md").read_text(encoding="utf-8")
    suite = tomllib.loads((REPO / "resources" / "eval-suite.toml").read_text(encoding="utf-8"))
    stated = re.findall(r"The (\d+) built-in situations", text)
    assert stated == [str(len(suite["situations"]))]
    example = re.search(r"```\n(model\s+mode\s+valid.*?)\n", text)
    assert example is not None, "the eval section's example table is gone"
    assert re.split(r"\s{2,}", example.group(1).strip()) == list(TABLE_COLUMNS)
    for column in TABLE_COLUMNS[2:-2]:
        assert f"*{column}*" in " ".join(text.split()), f"the README does not say what {column!r} means"


def test_the_readme_says_what_dry_runs_record_and_when_servers_are_checked() -> None:
    """Found living with the app: the README said the editor's Dry-run preview "is recorded in History (marked
    dry)", which it is not (tests/qt/test_windows.py: the preview adds no run), and that the app "keeps
    checking" the model servers, which it does only at set times (qt/services/health.py)."""
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "the editor's preview) asks the model and checks the answer exactly like a real heartbeat, and" not in text
    assert "the preview is not recorded at all" in text
    assert "keeps checking" not in text
    assert "every minute, backing off to every ten; while all answer, nothing polls them" in text
