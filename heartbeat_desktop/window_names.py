"""The app's windows by name: the one list the tray menu, the fallback window, `heartbeat-desktop open`,
the single-instance protocol and the app's window registry all read (Qt-free, so the CLI can too).

Adding a window is one line here plus its factory in `qt/windows/registry.py`; a test checks that the two
agree.
"""

from __future__ import annotations

# name → menu label (with its mnemonic), in menu order
WINDOWS: dict[str, str] = {
    "threads": "&Threads…",
    "feed": "&Feed…",
    "history": "&History…",
    "editor": "E&dit HEARTBEAT.md…",
    "settings": "&Settings…",
    "setup": "S&et up…",  # the first-run window: find a model server, pick a model, try a heartbeat
}
