import plistlib
from pathlib import Path

from heartbeat_desktop.autostart import Autostart, desktop_entry, launch_agent_plist, windows_run_value

CMD = ["/opt/My Apps/python3", "-m", "heartbeat_desktop"]


def test_linux_desktop_file_is_written_and_removed(tmp_path: Path) -> None:
    auto = Autostart(platform="linux", home=tmp_path, command=CMD)
    assert not auto.enabled()
    auto.set_enabled(True)
    path = tmp_path / ".config" / "autostart" / "heartbeat-desktop.desktop"
    assert auto.enabled() and path.exists()
    text = path.read_text()
    assert text.startswith("[Desktop Entry]\n") and "Type=Application" in text
    # told to wait for a tray that comes up after it (#27 item 6)
    assert 'Exec=/usr/bin/env HEARTBEAT_TRAY_WAIT=60 "/opt/My Apps/python3" -m heartbeat_desktop' in text
    auto.set_enabled(False)
    assert not path.exists() and not auto.enabled()
    auto.set_enabled(False)  # idempotent


def test_desktop_entry_quotes_reserved_characters() -> None:
    entry = desktop_entry(['/x/$HOME/a"b', "100%"])
    assert 'Exec="/x/\\$HOME/a\\"b" "100%%"' in entry


def test_macos_launch_agent(tmp_path: Path) -> None:
    auto = Autostart(platform="darwin", home=tmp_path, command=CMD)
    auto.set_enabled(True)
    plist = plistlib.loads((tmp_path / "Library/LaunchAgents/io.github.heartbeat-desktop.plist").read_bytes())
    assert plist["ProgramArguments"] == CMD and plist["RunAtLoad"] is True
    assert plistlib.loads(launch_agent_plist(CMD))["Label"] == "io.github.heartbeat-desktop"


def test_windows_run_value_is_one_quoted_command_line() -> None:
    assert windows_run_value(["C:\\Program Files\\HB\\heartbeat.exe"]) == '"C:\\Program Files\\HB\\heartbeat.exe"'


def test_a_chosen_data_dir_is_carried_into_the_login_command(tmp_path: Path) -> None:
    from heartbeat_desktop.autostart import launch_command

    profile = tmp_path / "work profile"
    command = launch_command({"HEARTBEAT_DATA_DIR": str(profile)}, platform="linux")
    assert command[:2] == ["/usr/bin/env", f"HEARTBEAT_DATA_DIR={profile.resolve()}"]
    assert f'"HEARTBEAT_DATA_DIR={profile.resolve()}"' in desktop_entry(command)  # quoted: it has a space
    assert launch_command({}, platform="linux")[0] != "/usr/bin/env"
    auto = Autostart(platform="linux", home=tmp_path, command=command)
    auto.set_enabled(True)
    exec_line = f'Exec=/usr/bin/env HEARTBEAT_TRAY_WAIT=60 "HEARTBEAT_DATA_DIR={profile.resolve()}" '
    assert exec_line in auto.path.read_text()


def test_an_entry_from_before_the_tray_wait_gets_it_and_nothing_else_changes(tmp_path: Path) -> None:
    """#27 item 6: an entry written by an older version started the app without the wait for a late tray. The
    running app adds it to the Exec line (qt/launch.py) and keeps the rest — the entry may start another
    profile or program on purpose."""
    auto = Autostart(platform="linux", home=tmp_path, command=CMD)
    assert not auto.add_tray_wait() and not auto.enabled()  # no entry: none is made
    old = (
        "[Desktop Entry]\nType=Application\nName=Heartbeat Desktop\n"
        "Exec=/usr/bin/env HEARTBEAT_DATA_DIR=/home/a/work /opt/hb/heartbeat-desktop\nX-Custom=kept\n"
    )
    auto.path.parent.mkdir(parents=True)
    auto.path.write_text(old, encoding="utf-8")
    assert auto.add_tray_wait()
    text = auto.path.read_text(encoding="utf-8")
    assert text == old.replace(
        "Exec=/usr/bin/env HEARTBEAT_DATA_DIR",
        "Exec=/usr/bin/env HEARTBEAT_TRAY_WAIT=60 HEARTBEAT_DATA_DIR",
    )
    assert not auto.add_tray_wait() and auto.path.read_text(encoding="utf-8") == text  # once
    auto.path.write_text(old.replace("/usr/bin/env HEARTBEAT_DATA_DIR=/home/a/work ", ""), encoding="utf-8")
    assert auto.add_tray_wait()
    assert "Exec=/usr/bin/env HEARTBEAT_TRAY_WAIT=60 /opt/hb/heartbeat-desktop\n" in auto.path.read_text()
    assert not Autostart(platform="darwin", home=tmp_path, command=CMD).add_tray_wait()
