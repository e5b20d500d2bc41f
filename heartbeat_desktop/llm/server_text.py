"""What a server says, made fit for a run's reason, a log line and a terminal: one line, bounded, inert.

Servers put anything in their error bodies: several lines, terminal escape sequences, kilobytes of
stack trace, a model's raw output. A reason is shown in a tooltip, a notification and `history`; it
must be one readable line that cannot recolour a terminal or push the rest off screen.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

LIMIT = 300


def one_line(text: object, limit: int = LIMIT) -> str:
    """`text` without escape sequences or control characters, whitespace collapsed, at most `limit`."""
    flat = _ANSI.sub("", str(text))
    flat = " ".join(_CONTROL.sub(" ", flat).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def seconds(value: float) -> str:
    """A timeout as people write it: 5, 2.5, 120 — not 9.99991."""
    rounded = round(value, 1)
    return f"{rounded:g}"
