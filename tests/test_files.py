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
