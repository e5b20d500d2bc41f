"""Issue #27 item 8, the command line's edges: a closed reader, what reaches the terminal, `open` without an
app, `threads rename`, a bad thread id. A real process, a real data dir, as a user runs them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat_desktop.store import SqliteStore
from tests.conftest import REPO
from tests.support.ollama_server import OllamaServer
from tests.test_cli import cli


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The user's environment: Python buffers stdout to a pipe (PYTHONUNBUFFERED, set where the tests run,
    would hide the failure at exit), no LOG_LEVEL."""
    drop = ("LOG_LEVEL", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return env | {"HEARTBEAT_DATA_DIR": str(data_dir), "OLLAMA_HOST": "http://127.0.0.1:9", **extra}


@pytest.mark.parametrize(
    "args", [("config", "get"), ("check", "--json"), ("status",), ("history",), ("--help",), ("threads", "--help")]
)
def test_a_reader_gone_before_the_answer_ends_the_command_quietly(data_dir: Path, args: tuple[str, ...]) -> None:
    """`… | head`: the answer is buffered and written at exit, where Python printed "Exception ignored …
    Broken pipe" and exited 120. Now every command (and --help) ends as cat does: nothing said, 141."""
    cli(data_dir, "run-now")  # something for history to print (a failed run: nothing listens on port 9)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            env=_env(data_dir),
            cwd=REPO,
            timeout=60,
            text=True,
        )
    finally:
        os.close(write)
    assert proc.stderr == "" and proc.returncode == 141, (proc.returncode, proc.stderr)


def test_log_warnings_stay_in_the_log_unless_asked_for(data_dir: Path) -> None:
    """`status` printed a stored setting's log warning (three times) among its lines; now it says the problem
    once, as a line of its answer, and the log file keeps the record. LOG_LEVEL brings records back to stderr."""
    store = SqliteStore(data_dir / "heartbeat.db")
    store.settings.set("llm_timeout", "abc")  # as a hand edit or an older version may leave it
    store.close()
    status = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "status"],
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=REPO,
        timeout=60,
    )
    assert status.returncode == 0 and status.stderr == "", status.stderr
    said = [line for line in status.stdout.splitlines() if "llm_timeout is 'abc'" in line]
    assert said == ["Setting warning: llm_timeout is 'abc', but it must be a number from 1 to 3600: the default "
                    "(120) is used instead"], status.stdout  # fmt: skip
    assert "llm_timeout is 'abc'" in (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")
    asked = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "status"],
        capture_output=True,
        text=True,
        env=_env(data_dir, LOG_LEVEL="WARNING"),
        cwd=REPO,
        timeout=60,
    )
    assert "[HEARTBEAT] WARNING: Setting llm_timeout is 'abc', but" in asked.stderr


def test_a_bad_thread_id_is_said_before_anything_else(data_dir: Path) -> None:
    """`threads add "Bad Id" --workspace typo` complained about the workspace first; the id is what is wrong
    whatever else is, and is said first."""
    result = cli(data_dir, "threads", "add", "Bad Id", "--workspace", str(data_dir / "no-such-dir"))
    assert result.returncode == 2 and "invalid thread id 'Bad Id'" in result.stderr, result.stderr
    assert "workspace" not in result.stderr


def test_threads_rename_changes_the_title_and_keeps_the_id(data_dir: Path) -> None:
    assert cli(data_dir, "threads", "add", "work", "--title", "Work").returncode == 0
    assert cli(data_dir, "message", "--thread", "work", "Remind me to call Ana.").returncode == 0
    renamed = cli(data_dir, "threads", "rename", "work", "Day", "job")
    assert renamed.returncode == 0 and "titled 'Day job' (its id stays work)" in renamed.stdout, renamed.stderr
    store = SqliteStore(data_dir / "heartbeat.db")
    try:
        thread = store.threads.require("work")
        assert thread.title == "Day job" and [m.text for m in store.recent_messages("work", 5)] == [
            "Remind me to call Ana."
        ]
    finally:
        store.close()
    assert "rename" in cli(data_dir, "threads", "--help").stdout
    for args, says in (
        (("threads", "rename", "nope", "X"), "no thread 'nope'"),
        (("threads", "rename", "work", " "), "the title is empty"),
        (("threads", "rename", "work", "x" * 300), "the most is 200"),
    ):
        refused = cli(data_dir, *args)
        assert refused.returncode == 2 and says in refused.stderr, (args, refused.stderr)


def _open_env(data_dir: Path, **extra: str) -> dict[str, str]:
    quiet = {"QT_QPA_PLATFORM": "offscreen", "HEARTBEAT_TRAY_WAIT": "0", "HEARTBEAT_ENABLED": "0"}
    return _env(data_dir, **quiet | extra)


def test_open_without_a_running_app_starts_it_in_the_background_and_returns(data_dir: Path) -> None:
    """`open settings` with no app became the app and never returned: a script (or `$(…)`, which waits for
    every holder of the pipe) hung. Now it starts the app detached and returns once the window is open."""
    import json
    import time

    env = _open_env(data_dir)
    started = time.monotonic()
    # capture_output: were the app to hold our pipes, this would not return until the app quits
    opened = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "open", "settings"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )  # fmt: skip
    try:
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.startswith("started Heartbeat Desktop (pid ") and "opened settings" in opened.stdout
        assert time.monotonic() - started < 45
        status = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", "status", "--json"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
        app = json.loads(status.stdout)
        assert app["app_running"] and app["app_answering"], status.stdout
        pid = int(opened.stdout.split("pid ")[1].split(")")[0])
        assert app["app_pid"] == pid and os.getsid(pid) == pid  # a session of its own: the terminal's signals miss it
        again = subprocess.run(
            [sys.executable, "-m", "heartbeat_desktop", "open", "feed"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
        assert again.returncode == 0 and "already running; opened feed" in again.stdout, again  # success: stdout
        assert again.stderr == ""
    finally:
        subprocess.run([sys.executable, "-m", "heartbeat_desktop", "quit"], env=env, cwd=REPO, timeout=60)
    assert (data_dir / "logs" / "app-output.log").exists()


def test_open_says_so_when_the_app_cannot_start(data_dir: Path) -> None:
    """The app dies at start (here: a Qt platform that does not exist): one line with what it said, exit 1,
    and no wait for the whole bound."""
    result = subprocess.run(
        [sys.executable, "-m", "heartbeat_desktop", "open", "settings"],
        capture_output=True, text=True, env=_open_env(data_dir, QT_QPA_PLATFORM="no-such-platform"), cwd=REPO,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("heartbeat-desktop: error: Heartbeat Desktop exited at start"), result.stderr
    assert "no-such-platform" in (data_dir / "logs" / "app-output.log").read_text(encoding="utf-8")


def test_every_time_the_command_line_prints_has_one_pattern_and_counts_read_as_english(
    data_dir: Path, ollama: OllamaServer
) -> None:
    """#27 item 8: `check` printed a task's next time as "Mon 07 Dec 09:00" beside history's and status's
    "2026-12-07 09:00:00"; `feed` said "1 comments"."""
    import re

    from tests.support.citing import Act
    from tests.test_cli import POST

    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    (data_dir / "HEARTBEAT.md").write_text(
        "## Rules\nIf a summary is asked for → post it.\n## Tasks\n- daily 08:00: post a summary\n", encoding="utf-8"
    )
    checked = cli(data_dir, "check").stdout
    assert re.search(rf"daily 08:00: post a summary — next {stamp}\n", checked), checked
    ollama.script(Act(POST))
    assert cli(data_dir, "message", "Please post a summary.").returncode == 0
    assert cli(data_dir, "run-now", host=ollama.url).returncode == 0
    with sqlite3.connect(data_dir / "heartbeat.db") as db:  # one comment, as the user's own
        db.execute(
            "INSERT INTO comments (post_id, thread_id, content, created_at) SELECT id, NULL, 'Thanks', 0 FROM posts"
        )
    feed = cli(data_dir, "feed").stdout
    assert re.search(rf"\[default, {stamp}, 1 comment\]$", feed.strip()), feed
    for shown in (cli(data_dir, "history").stdout, cli(data_dir, "status").stdout):
        assert re.search(stamp, shown) and "+00:00" not in shown, shown
