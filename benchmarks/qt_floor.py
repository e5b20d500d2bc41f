"""The floor under the tray app's memory: a bare PySide6 tray icon with a menu, and the same after one
window (a table, a text editor, tabs, a form) was shown for a second and closed (deleted).

    python benchmarks/qt_floor.py [--idle 3]

Run by `launch.py` as a child under the same X server, tray and Python, so `idle_rss_mb` and
`idle_rss_after_tour_mb` can be read against what Qt itself costs here, and the app's launch time against
a bare tray's (it prints "tray shown" the moment its icon is shown). Prints `floor_rss_mb` and
`floor_rss_after_window_mb`; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QSystemTrayIcon,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    tray = QSystemTrayIcon(QIcon(str(REPO / "resources" / "icons" / "app.svg")))
    menu = QMenu()
    for label in ("Run now", "Pause", "History", "Settings", "Quit"):
        menu.addAction(label)
    tray.setContextMenu(menu)
    tray.show()
    print("tray shown", flush=True)  # launch.py times process start → this line, as it times the app's
    figures: dict[str, float] = {}
    idle_ms = int(args.idle * 1000)

    def fresh() -> None:
        figures["floor_rss_mb"] = rss_mb()
        window = QWidget()
        layout = QVBoxLayout(window)
        tabs = QTabWidget()
        table = QTableWidget(50, 6)
        tabs.addTab(table, "Table")
        tabs.addTab(QPlainTextEdit("## Checklist\n- [ ] something\n" * 40), "Text")
        form = QWidget()
        form_layout = QFormLayout(form)
        for i in range(12):
            form_layout.addRow(f"Field {i}:", QLineEdit(f"value {i}"))
        tabs.addTab(form, "Form")
        layout.addWidget(tabs)
        window.resize(1000, 700)
        window.show()

        def close() -> None:
            window.close()
            window.deleteLater()
            QTimer.singleShot(idle_ms, after)

        QTimer.singleShot(1000, close)

    def after() -> None:
        figures["floor_rss_after_window_mb"] = rss_mb()
        app.quit()

    QTimer.singleShot(idle_ms, fresh)
    app.exec()
    print(" ".join(f"{k}={v:.1f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
