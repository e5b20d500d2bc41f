"""Build the packaged app: `python packaging/build.py`.

Renders the icons from resources/icons/app.svg (PNG sizes for hicolor, .ico, .icns), runs PyInstaller on
packaging/heartbeat-desktop.spec into dist/heartbeat-desktop/, then (on Linux) assembles a tarball with
the bundle, the .desktop file, icons, AppStream metainfo and install/uninstall scripts. Prints the
bundle's size. Needs the `package` extra: pip install -e '.[package]'.

The bundle carries the PySide6 of the environment that runs this script (PyInstaller copies what this
interpreter imports), so that pair is checked first: a binding that lowers None's or True's reference count
on its calls (PySide6-Essentials 6.12.0 on Python 3.11, see pyproject.toml) is refused.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
# Few enough that a leaking binding cannot take True (~600 references in a fresh process) to zero here.
LEAK_PROBE_CALLS = 100
sys.path.insert(0, str(ROOT))


def binding_problem() -> str | None:
    """None if this interpreter's PySide6 keeps None's and True's reference counts, else why not to bundle it.

    Measured as tests/qt/test_refcounts.py measures it, not looked up in a list of versions: a later release
    with the same fault is caught too, and the pin in pyproject.toml can be lifted without touching this.
    A Qt call that returns nothing (setObjectName) and a signal's emit (which returns True) are made
    LEAK_PROBE_CALLS times each; 6.12.0 on Python 3.11 loses one reference per call, and the app aborts
    (none_dealloc, bool_dealloc) when a count reaches zero. From Python 3.12 both are immortal."""
    if sys.version_info >= (3, 12):
        return None
    import PySide6
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        pinged = Signal()

    probe = Probe()
    gc.collect()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(LEAK_PROBE_CALLS):
        probe.setObjectName("probe")
        probe.pinged.emit()
    gc.collect()
    lost_none, lost_true = before[0] - sys.getrefcount(None), before[1] - sys.getrefcount(True)
    # Give back what the probe took: one reference short, this process would abort at exit instead.
    for obj, lost in ((None, lost_none), (True, lost_true)):
        for _ in range(max(lost, 0)):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    if max(lost_none, lost_true) < LEAK_PROBE_CALLS // 2:
        return None
    python = ".".join(map(str, sys.version_info[:3]))
    return (
        f"PySide6 {PySide6.__version__} on Python {python} loses references to None ({lost_none} in "
        f"{LEAK_PROBE_CALLS} calls) and True ({lost_true} in {LEAK_PROBE_CALLS} emits): the bundled app would "
        "abort after a while (Fatal Python error: none_dealloc). Install the version pyproject.toml allows "
        "(pip install -e '.[package]'; on Python 3.11, PySide6-Essentials<6.12) and build again."
    )


def render_icons() -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])
    out = BUILD / "icons"
    out.mkdir(parents=True, exist_ok=True)
    renderer = QSvgRenderer(str(ROOT / "resources" / "icons" / "app.svg"))
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        image.save(str(out / f"heartbeat-desktop-{size}.png"))
        if size == 256:
            image.save(str(out / "heartbeat-desktop.ico"))
        if size == 512:
            image.save(str(out / "heartbeat-desktop.icns"))
    del app
    return out


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def linux_tarball(icons: Path) -> Path:
    from heartbeat_desktop import __version__

    stage = BUILD / "tarball" / f"heartbeat-desktop-{__version__}"
    shutil.rmtree(stage.parent, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(DIST / "heartbeat-desktop", stage / "heartbeat-desktop", symlinks=True)
    linux = ROOT / "packaging" / "linux"
    for name in ("heartbeat-desktop.desktop", "io.github.heartbeat_desktop.metainfo.xml", "install.sh", "uninstall.sh"):
        shutil.copy2(linux / name, stage / name)
    (stage / "icons").mkdir()
    shutil.copy2(ROOT / "resources" / "icons" / "app.svg", stage / "icons" / "heartbeat-desktop.svg")
    for size in ICON_SIZES:
        shutil.copy2(icons / f"heartbeat-desktop-{size}.png", stage / "icons" / f"heartbeat-desktop-{size}.png")
    # xz, not gzip: the download is about a third smaller (issue #17), and every Linux tar reads it (tar xf).
    for old in DIST.glob(f"heartbeat-desktop-{__version__}-linux-*.tar.*"):
        old.unlink()
    tarball = DIST / f"heartbeat-desktop-{__version__}-linux-{os.uname().machine}.tar.xz"
    with tarfile.open(tarball, "w:xz", preset=6) as tar:
        tar.add(stage, arcname=stage.name)
    return tarball


def main() -> int:
    try:
        import PyInstaller.__main__ as pyinstaller
    except ImportError:
        print("PyInstaller is missing: pip install -e '.[package]'", file=sys.stderr)
        return 2
    problem = binding_problem()
    if problem is not None:
        print(f"Not building: {problem}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    icons = render_icons()
    shutil.rmtree(DIST / "heartbeat-desktop", ignore_errors=True)
    pyinstaller.run(
        [
            str(ROOT / "packaging" / "heartbeat-desktop.spec"),
            "--noconfirm",
            "--clean",
            "--distpath",
            str(DIST),
            "--workpath",
            str(BUILD / "pyinstaller"),
            "--log-level",
            "WARN",
        ]
    )
    bundle = DIST / "heartbeat-desktop"
    print(f"bundle: {bundle} — {dir_size(bundle) / 1e6:.1f} MB ({dir_size(bundle) / 2**20:.1f} MiB)")
    if sys.platform.startswith("linux"):
        tarball = linux_tarball(icons)
        print(f"tarball: {tarball} — {tarball.stat().st_size / 1e6:.1f} MB")
    print(f"built in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
