from pathlib import Path

import pytest

from heartbeat_desktop.files import atomic_write


def test_atomic_write_keeps_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "HEARTBEAT.md"
    target.write_text("old")
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert (tmp_path / "HEARTBEAT.md.bak").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_failed_write_leaves_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "HEARTBEAT.md"
    target.write_text("precious")

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full)  # the disk fills up while writing
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, "new text")
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["HEARTBEAT.md"]


def test_the_data_is_private_to_its_user(tmp_path: Path) -> None:
    """0700 directories and 0600 files, and an earlier install's 0755/0644 tightened on the next start."""
    import os
    import stat
    import subprocess
    import sys

    from tests.conftest import REPO

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    data = tmp_path / "data"
    env = {**os.environ, "HEARTBEAT_DATA_DIR": str(data)}
    run = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "message", "--thread", "default", "hello"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert mode(data) == 0o700 and mode(data / "logs") == 0o700
    created = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in created} >= {"heartbeat.db", "HEARTBEAT.md", "heartbeat.log"}
    assert all(mode(p) == 0o600 for p in created), {p.name: oct(mode(p)) for p in created}

    for path in [data, data / "logs"]:
        path.chmod(0o755)
    for path in created:
        path.chmod(0o644)  # as the first release left them
    subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "history"], env=env, cwd=REPO, capture_output=True, timeout=60
    )
    assert mode(data) == 0o700 and mode(data / "logs") == 0o700
    assert all(mode(p) == 0o600 for p in created if p.exists()), {p.name: oct(mode(p)) for p in created}


def test_a_huge_heartbeat_md_is_read_up_to_its_cap_with_a_warning(tmp_path: Path) -> None:
    from heartbeat_desktop.core.heartbeat_md import READ_MAX_BYTES, read_heartbeat_md

    (tmp_path / "HEARTBEAT.md").write_bytes(b"## Checklist\n" + b"- [ ] item " * 1_000_000)  # 11 MB
    text, warnings = read_heartbeat_md(tmp_path)
    assert len(text.encode()) <= READ_MAX_BYTES and text.startswith("## Checklist")
    assert warnings and "only the first MB was read" in warnings[0]
    (tmp_path / "HEARTBEAT.md").write_bytes(b"## Rules\n" + "é".encode() * 600_000)  # cut inside a character
    text, warnings = read_heartbeat_md(tmp_path)
    assert "undecodable" not in " ".join(warnings) and "\ufffd" not in text


def test_a_fifo_at_heartbeat_md_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO (nobody writing) used to hang every run and every API request that read it, for ever."""
    import os
    import time

    from heartbeat_desktop.core.heartbeat_md import read_heartbeat_md

    os.mkfifo(tmp_path / "HEARTBEAT.md")
    t0 = time.monotonic()
    text, warnings = read_heartbeat_md(tmp_path)
    assert time.monotonic() - t0 < 1.0
    assert text == "" and "not a regular file" in warnings[0]
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write(tmp_path / "HEARTBEAT.md", "# Checklist\n- x\n")


def test_saving_never_follows_a_link_planted_at_the_backup(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious", encoding="utf-8")
    victim.chmod(0o644)
    data = tmp_path / "data"
    data.mkdir()
    (data / "HEARTBEAT.md").write_text("old", encoding="utf-8")
    (data / "HEARTBEAT.md.bak").symlink_to(victim)
    atomic_write(data / "HEARTBEAT.md", "new")
    assert victim.read_text(encoding="utf-8") == "precious" and (victim.stat().st_mode & 0o777) == 0o644
    assert not (data / "HEARTBEAT.md.bak").is_symlink()
    assert (data / "HEARTBEAT.md.bak").read_text(encoding="utf-8") == "old"
    assert (data / "HEARTBEAT.md").read_text(encoding="utf-8") == "new"


def test_a_linked_heartbeat_md_is_written_through_and_its_target_keeps_its_mode(tmp_path: Path) -> None:
    from heartbeat_desktop import paths

    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "HEARTBEAT.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o644)
    data = tmp_path / "data"
    data.mkdir()
    (data / "HEARTBEAT.md").symlink_to(target)
    atomic_write(data / "HEARTBEAT.md", "new")
    paths.secure_files(data)  # the app's start-up tightening must not reach through the link
    assert (data / "HEARTBEAT.md").is_symlink() and target.read_text(encoding="utf-8") == "new"
    assert (target.stat().st_mode & 0o777) == 0o644
