"""Frozen smoke test: the built bundle, alone (no source tree on its path), does its basic jobs.

    python packaging/build.py && python packaging/smoke_test.py

1. `heartbeat-desktop --version`;
2. `run-now --dry-run --json` against a loopback Ollama-protocol server (ok, dry run, nothing written);
3. the tray app under Xvfb with a system tray (trayer): time from launch to the tray icon, then
   `heartbeat-desktop quit` must make it exit 0 within a few seconds.
   Every window is opened and closed in the running app (a Qt plugin or module the spec left out would
   show here).
Prints the bundle and download sizes (judged by benchmarks/run_all.py) and the launch-to-tray time;
exits 1 on any failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "heartbeat-desktop"
EXE = BUNDLE / "heartbeat-desktop"
sys.path.insert(0, str(ROOT))  # for the test harness only (the loopback server); the bundle never sees it

from tests.support.citing import Act  # noqa: E402
from tests.support.ollama_server import OllamaServer  # noqa: E402
from tests.support.xserver import start_display, start_tray, stop  # noqa: E402


def fail(message: str) -> None:
    print(f"SMOKE TEST FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def frozen_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QT_QPA"))}
    env.update({"HEARTBEAT_DATA_DIR": str(data_dir), **extra})
    return env


def check_install(work: Path) -> None:
    """The tarball's install.sh/uninstall.sh, per user, into a throwaway HOME."""
    tarballs = sorted((ROOT / "dist").glob("heartbeat-desktop-*-linux-*.tar.xz"))
    if not tarballs:
        fail("no tarball in dist/")
    home = work / "home"
    home.mkdir()
    subprocess.run(["tar", "xf", str(tarballs[-1]), "-C", str(work)], check=True)
    unpacked = next(work.glob("heartbeat-desktop-*/install.sh")).parent
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    subprocess.run(["sh", str(unpacked / "install.sh")], env=env, check=True, capture_output=True)
    installed = home / ".local" / "bin" / "heartbeat-desktop"
    expected = [
        installed,
        home / ".local/share/applications/heartbeat-desktop.desktop",
        home / ".local/share/icons/hicolor/256x256/apps/heartbeat-desktop.png",
        home / ".local/share/icons/hicolor/scalable/apps/heartbeat-desktop.svg",
        home / ".local/share/metainfo/io.github.heartbeat_desktop.metainfo.xml",
    ]
    missing = [str(p) for p in expected if not p.exists()]
    if missing:
        fail(f"install.sh did not install {missing}")
    if f"Exec={installed}" not in expected[1].read_text():
        fail("the installed .desktop file does not point at the installed command")
    version = subprocess.run(
        [str(installed), "--version"],
        env={**env, "HEARTBEAT_DATA_DIR": str(work / "d2")},
        capture_output=True,
        text=True,
    )
    if version.returncode != 0:
        fail(f"the installed command does not run: {version.stderr[-400:]}")
    subprocess.run(["sh", str(unpacked / "uninstall.sh")], env=env, check=True, capture_output=True)
    left = [str(p) for p in expected if p.exists()]
    if left:
        fail(f"uninstall.sh left {left}")
    print("ok  install.sh / uninstall.sh per user")


def main() -> int:
    if not EXE.exists():
        fail(f"no bundle at {EXE}; run: python packaging/build.py")
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    work = Path(tempfile.mkdtemp(prefix="hb-smoke-"))
    data = work / "data"
    data.mkdir()
    server = OllamaServer().start()
    procs: list[subprocess.Popen] = []
    try:

        def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [str(EXE), *args], cwd=work, env=frozen_env(data, **extra), capture_output=True, text=True, timeout=60
            )

        version = run("--version")
        if version.returncode != 0 or "heartbeat-desktop" not in version.stdout:
            fail(f"--version: {version.returncode} {version.stdout!r} {version.stderr[-500:]!r}")
        print(f"ok  --version: {version.stdout.strip()}")

        server.script(Act({"action": "post", "title": "Frozen", "content": "c", "reason": "r"}))
        dry = run("run-now", "--dry-run", "--json", OLLAMA_HOST=server.url)
        if dry.returncode != 0:
            fail(f"run-now: {dry.returncode} {dry.stdout!r} {dry.stderr[-800:]!r}")
        result = json.loads(dry.stdout)
        if result["status"] != "ok" or result["dry_run"] is not True or result["action"]["title"] != "Frozen":
            fail(f"run-now answered {result}")
        if json.loads(run("feed", "--json").stdout) != []:
            fail("a dry run wrote to the feed")
        if not (data / "HEARTBEAT.md").exists():
            fail("the bundled default HEARTBEAT.md was not copied on first start")
        print(f"ok  run-now --dry-run --json: {result['status']}, would post “{result['action']['title']}”")

        for tool in ("Xvfb", "trayer"):
            if shutil.which(tool) is None:
                fail(f"{tool} is missing (packaging/install-system-deps.sh installs it)")
        display = start_display(procs, "1024x768x24")
        desktop = {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "OLLAMA_HOST": server.url, "LOG_LEVEL": "INFO"}
        start_tray(procs, {**os.environ, **desktop})
        log_file = data / "logs" / "heartbeat.log"
        before = log_file.read_text() if log_file.exists() else ""
        t0 = time.monotonic()
        app = subprocess.Popen(
            [str(EXE)],
            cwd=work,
            env=frozen_env(data, **desktop),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(app)
        launch_to_tray = None
        while time.monotonic() - t0 < 30:
            text = log_file.read_text() if log_file.exists() else ""
            if "Tray icon shown" in text[len(before) :]:
                launch_to_tray = time.monotonic() - t0
                break
            if app.poll() is not None:
                fail(f"the tray app exited early ({app.returncode}): {app.stderr.read()[-800:]}")
            time.sleep(0.02)
        if launch_to_tray is None:
            fail("the tray icon did not appear within 30 s")
        print(f"ok  tray icon shown {launch_to_tray * 1000:.0f} ms after launch")
        # Every window, as the bundle ships it: a Qt plugin or a module left out shows up here.
        for name in ("settings", "editor", "history", "feed", "threads"):
            opened = run("open", name, **desktop)
            time.sleep(1.0)
            if opened.returncode != 0 or app.poll() is not None:
                fail(f"open {name}: {opened.returncode} {opened.stderr[-500:]!r} (app {app.poll()})")
            run("close", name, **desktop)
        errors = [line for line in log_file.read_text()[len(before) :].splitlines() if " ERROR " in line]
        if errors:
            fail(f"the app logged errors: {errors[:3]}")
        print("ok  every window opened and closed")
        t1 = time.monotonic()
        quit_cmd = run("quit", **desktop)
        if quit_cmd.returncode != 0:
            fail(f"quit: {quit_cmd.returncode} {quit_cmd.stderr[-500:]!r}")
        try:
            code = app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fail("the app did not exit within 10 s of `heartbeat-desktop quit`")
        if code != 0:
            fail(f"the app exited with {code}")
        print(f"ok  quit: exited 0 after {(time.monotonic() - t1) * 1000:.0f} ms")
        check_install(work)
    finally:
        stop(procs)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    downloads = sorted((ROOT / "dist").glob("heartbeat-desktop-*-linux-*.tar.xz"))
    download = downloads[-1].stat().st_size / 1e6 if downloads else float("nan")
    # Judged against the goals (130 / 55 MB) by benchmarks/run_all.py; this test is about the bundle working.
    print(f"bundle_size_mb={size / 1e6:.1f} download_mb={download:.1f}")
    print(f"launch_to_tray_ms={launch_to_tray * 1000:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
