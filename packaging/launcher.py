"""Entry point of the frozen bundle (PyInstaller needs a script; the app's own entry is the CLI)."""

import sys

from heartbeat_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
