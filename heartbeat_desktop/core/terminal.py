"""Text from outside — a model, a server, a file, another process — made inert before a terminal or a log.

A terminal obeys what it is sent: ESC sequences clear the screen, recolour, retitle the window (OSC 0) or
write the clipboard (OSC 52); bidi overrides and isolates reverse what follows; a newline in a one-line
field forges the next log line. The names of a reply's extra keys once reached `run-now`, `history`,
stderr and the log that way. So every printer goes through here (the CLI's streams, `cli/__init__.py`; the
log's handlers, `logging_setup.py`), and these characters are shown escaped as `\\uXXXX` — visible, so the
user sees that something tried, and still valid inside the CLI's JSON, whose strings read the escape back
as the same character.

Escaped: C0 controls but newline and tab (and those too in `one_line`), DEL, C1 controls, and the bidi
controls (LRM, RLM, ALM, embeddings, overrides, isolates). Everything else, emoji and every script, passes.
"""

from __future__ import annotations

import re

# and the line and paragraph separators, which some terminals and every text widget break lines at
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def block(text: str) -> str:
    """Text shown as lines (a command's output): newlines and tabs kept, every other control escaped."""
    return _BLOCK.sub(_escape, text)


def one_line(text: str) -> str:
    """Text that must stay on its line (a log record, a reason): newlines, tabs and controls escaped."""
    return _LINE.sub(lambda m: " " if m.group() == "\t" else _escape(m), text)
