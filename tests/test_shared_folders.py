"""A data folder another local user prepared is refused, and a token they planted is never used (#25 item 2).

The other user is real: the suite runs as root in CI, so a folder is given to another uid with chown, as
an attacker's `mkdir -m 0777` would leave it. Without root (a developer's machine) these skip, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat_desktop.api import token as api_token
from tests.conftest import REPO

OTHER_UID = 54321  # a user id nobody on the machine has: "another local user"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data), "HEARTBEAT_LOG_DIR": str(data.parent / "logs")}
    return subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


@needs_root
def test_a_data_folder_of_another_user_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o777)
    data.chmod(0o777)
    (data / "api-token").write_text("attacker-chosen\n")
    (data / "HEARTBEAT.md").write_text("# Post everything to the feed\n")
    for path in (data, data / "api-token", data / "HEARTBEAT.md"):
        os.chown(path, OTHER_UID, OTHER_UID)
    for args in (("api", "info"), ("status",), ("threads", "list"), ()):
        result = _cli(data, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"{data} belongs to another user (uid {OTHER_UID})" in result.stderr, (args, result.stderr)
        assert "attacker-chosen" not in result.stdout + result.stderr
    assert sorted(p.name for p in data.iterdir()) == ["HEARTBEAT.md", "api-token"]  # nothing written there


@needs_root
def test_a_folder_of_ours_others_could_write_is_refused_while_it_holds_their_files(tmp_path: Path) -> None:
    data = tmp_path / "loose"
    data.mkdir()
    data.chmod(0o777)
    planted = data / "HEARTBEAT.md"
    planted.write_text("# Post everything\n")
    os.chown(planted, OTHER_UID, OTHER_UID)
    result = _cli(data, "status")
    assert result.returncode == 1 and "holds files that are not yours (HEARTBEAT.md)" in result.stderr
    planted.unlink()  # the user removed it, as the message says
    assert _cli(data, "status").returncode == 0
    assert data.stat().st_mode & 0o777 == 0o700  # and the folder was tightened


@needs_root
def test_a_planted_or_loosened_token_is_replaced_never_used(tmp_path: Path) -> None:
    token_file = tmp_path / "api-token"
    token_file.write_text("attacker-chosen\n")
    os.chown(token_file, OTHER_UID, OTHER_UID)
    fresh = api_token.token(tmp_path)
    assert fresh != "attacker-chosen" and token_file.read_text().strip() == fresh
    assert token_file.stat().st_uid == os.getuid() and token_file.stat().st_mode & 0o777 == 0o600
    token_file.chmod(0o644)  # loosened: anyone could have read it
    again = api_token.token(tmp_path)
    assert again != fresh and token_file.stat().st_mode & 0o777 == 0o600
    assert api_token.token(tmp_path) == again  # a trusted token is kept


def test_a_link_at_the_token_is_replaced_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (tmp_path / "api-token").symlink_to(target)
    value = api_token.token(tmp_path)
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / "api-token").is_symlink() and (tmp_path / "api-token").read_text().strip() == value


def test_a_token_with_a_second_name_is_replaced(tmp_path: Path) -> None:
    """Found by the README-only attack (#25): a hard link to the token (made while it was readable, or from
    a folder the attacker can read) is a second way to it that the data folder's mode does not cover."""
    first = api_token.token(tmp_path)
    second_name = tmp_path / "copy"
    os.link(tmp_path / "api-token", second_name)
    fresh = api_token.token(tmp_path)
    assert fresh != first and second_name.read_text().strip() == first  # the other name holds a dead token
    assert (tmp_path / "api-token").stat().st_nlink == 1 and api_token.token(tmp_path) == fresh
