"""The Linux .desktop file: valid keys, and one desktop action per window the `open` command knows."""

import configparser

from heartbeat_desktop.window_names import WINDOWS
from tests.conftest import REPO


def test_desktop_file_lists_every_window_as_an_action() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(REPO / "packaging" / "linux" / "heartbeat-desktop.desktop")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Exec"] == "heartbeat-desktop"
    actions = [a for a in entry["Actions"].split(";") if a]
    assert sorted(parser[f"Desktop Action {a}"]["Exec"].split()[-1] for a in actions) == sorted(WINDOWS)
