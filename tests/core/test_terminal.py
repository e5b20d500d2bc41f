"""Text from a model never drives the terminal or forges a log line (#25 item 1; core/terminal.py)."""

from __future__ import annotations

import json
from pathlib import Path

from heartbeat_desktop.core import terminal
from tests.support.ollama_server import OllamaServer, Reply
from tests.test_cli import cli

# Clear the screen, red, retitle the window (OSC 0 … BEL), markup, a right-to-left override, a newline that
# would start a forged log record, and OSC 52 (write the clipboard).
HOSTILE_KEY = (
    "\u001b[2J\u001b[31mPWNED\u001b]0;evil-title\u0007<b>x</b>\u202eevil"
    "\n[HEARTBEAT] 2026-12-04 ERROR forged\u001b]52;c;cHduZWQ=\u0007"
)
RAW = ("\u001b", "\u0007", "\u202e", "\u009b")


def test_controls_and_bidi_are_escaped_and_text_is_kept() -> None:
    text = "Ana\u001b[2J \u009b31m \u202eevil\u2066x\u2069 \u200f naïve 会议 🌱 \t tab\nnext"
    shown = terminal.block(text)
    assert not any(c in shown for c in ("\u001b", "\u009b", "\u202e", "\u2066", "\u2069", "\u200f"))
    assert "\\u001b[2J" in shown and "\\u202eevil" in shown  # visible, so the user sees something tried
    assert "naïve 会议 🌱" in shown and "\t tab\nnext" in shown  # every script, emoji, newline and tab stay
    line = terminal.one_line(text)
    assert "\n" not in line and "\\u000anext" in line and "\t" not in line
    assert json.loads(f'"{terminal.block(chr(0x202E) + "x")}"') == "\u202ex"  # still valid inside JSON


def test_a_models_control_sequences_reach_neither_the_terminal_nor_the_log(
    data_dir: Path, ollama: OllamaServer
) -> None:
    """The reported attack: an extra key in the decision went into the failure reason, and from there to
    `run-now`, `history`, stderr and the log, raw."""
    reply = json.dumps({"action": "none", "reason": "quiet", HOSTILE_KEY: 1})
    ollama.script(Reply(reply), Reply(reply))
    plain = cli(data_dir, "run-now", host=ollama.url)
    as_json = cli(data_dir, "run-now", "--json", host=ollama.url)
    history = cli(data_dir, "history")
    history_json = cli(data_dir, "history", "--json")
    for result in (plain, as_json, history, history_json):
        for text in (result.stdout, result.stderr):
            assert not any(c in text for c in RAW), repr(text[:300])
    assert "\\u001b[2J" in plain.stdout + plain.stderr  # the reason still says what the model wrote
    run = json.loads(as_json.stdout)
    assert run["status"] == "failed" and "\u202eevil" in run["reason"]  # the JSON reads back the same text
    log = (data_dir / "logs" / "heartbeat.log").read_text(encoding="utf-8")
    assert not any(c in log for c in RAW)
    assert all(line.startswith("[HEARTBEAT] ") for line in log.splitlines() if line)
    assert "ERROR forged" not in "\n".join(line[:40] for line in log.splitlines())


def test_a_newline_in_a_reason_never_makes_a_row_of_its_own(data_dir: Path, ollama: OllamaServer) -> None:
    """Found by the README-only attack: a reason's newlines printed `[HEARTBEAT] forged` as a line of
    `run-now` and split `history` and `status` rows; U+2028 came out raw."""
    reason = "line1\nline2\r\n[HEARTBEAT] forged\u2028more"
    ollama.script(Reply(json.dumps({"action": "none", "reason": reason})))
    ran = cli(data_dir, "run-now", host=ollama.url)
    assert len(ran.stdout.strip().splitlines()) == 1 and "\u2028" not in ran.stdout, ran.stdout
    assert "line1\\u000aline2" in ran.stdout
    rows = [line for line in cli(data_dir, "history").stdout.splitlines() if "line1" in line]
    assert len(rows) == 1 and "forged" in rows[0]


def test_a_long_key_like_reply_is_scrubbed_in_linear_time() -> None:
    """Found by the attack: the key scrubber backtracked over a long run of letters (20,000 took 13 s; a
    1.5 MB reply ran past the run's deadline). It must stay linear and still catch parts of the key."""
    import time

    from heartbeat_desktop.llm.server_text import scrub

    key = "sk-SECRETKEY-abcdef0123456789XYZ"
    started = time.process_time()
    scrubbed = scrub('{"reason": "' + "A" * 1_500_000 + '"}', [key])
    assert len(scrubbed) == 1_500_000 + 14
    assert time.process_time() - started < 5  # linear: ~0.1 s here; the backtracking took minutes
    assert scrub("x sk-secretkey-ABCDEF0123456789xyz-more and SECRETKEY-abcdef01 z", [key]) == (
        "x [redacted] and [redacted] z"
    )
