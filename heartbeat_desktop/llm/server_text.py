"""What a server says, made fit for a run's reason, a log line and a terminal: one line, bounded, inert.

Servers put anything in their error bodies: several lines, terminal escape sequences, kilobytes of
stack trace, a model's raw output. A reason is shown in a tooltip, a notification and `history`; it
must be one readable line that cannot recolour a terminal or push the rest off screen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from ..core.actions import whole_text

__all__ = ["whole_text"]  # re-exported: the clients clean what they read with it

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

LIMIT = 300


# Shapes of credentials a server may echo back (its own or ours): removed even when we do not know them.
_CREDENTIALS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk|pk|rk|ak)-[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)\b(api[_-]?key|x-api-key|authorization|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
)
REDACTED = "[redacted]"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets (the key this request sent) or anything shaped like a credential.
    A server that echoes our key in an error would otherwise put it in the run's reason, the log, the CLI's
    output and `history --json`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
            if len(secret) >= 16:
                # Any long part of the key, in any case (a server that trims, slices or upper-cases what it
                # echoes): every 12-character window of it (at steps of 4, so any 15 characters in a row
                # hold one), with the key-like characters around it.
                text = _redact_key_parts(secret, text)
    text = _CREDENTIALS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _CREDENTIALS[1].sub(lambda m: f"{m.group(1)}-{REDACTED}", text)
    return _CREDENTIALS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _key_parts(secret: str) -> re.Pattern[str]:
    """Any 12-character window of the key, in any case: fixed strings only, so a search is linear. (With
    the key-like characters around it in the pattern, a 20,000-character run of letters took 13 s and a
    1.5 MB reply minutes of backtracking, past the run's deadline.)"""
    starts = sorted({*range(0, len(secret) - 11, 4), len(secret) - 12})
    return re.compile("|".join(re.escape(secret[i : i + 12]) for i in starts), re.IGNORECASE)


_KEY_LIKE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _redact_key_parts(secret: str, text: str) -> str:
    """Each part of the key found, widened to the key-like characters around it, replaced: one pass."""
    out: list[str] = []
    pos = 0
    for match in _key_parts(secret).finditer(text):
        start, end = match.start(), match.end()
        if start < pos:  # inside a run already replaced
            continue
        while start > pos and text[start - 1] in _KEY_LIKE:
            start -= 1
        while end < len(text) and text[end] in _KEY_LIKE:
            end += 1
        out += [text[pos:start], REDACTED]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def echoes(text: str, secret: str | None) -> bool:
    """Whether `text` may hold `secret` (or a long part of it), so `scrub` is worth running on a reply."""
    if not secret or not text:
        return False
    return secret in text or (len(secret) >= 16 and _key_parts(secret).search(text) is not None)


def one_line(text: object, limit: int = LIMIT, secrets: Iterable[str | None] = ()) -> str:
    """`text` without escape sequences, control characters or credentials, whitespace collapsed, at most
    `limit` characters."""
    flat = scrub(_ANSI.sub("", str(text)), secrets)
    flat = " ".join(_CONTROL.sub(" ", flat).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def seconds(value: float) -> str:
    """A timeout as people write it: 5, 2.5, 120 — not 9.99991."""
    rounded = round(value, 1)
    return f"{rounded:g}"


def text_of(value: Any) -> str | None:
    """A reply's text field as servers send it: a string, or (some OpenAI-compatible servers) a list of parts
    each with a `text`. None for anything else (a number, an object), which the caller refuses or ignores."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, dict) for part in value):
        texts = [part.get("text") for part in value if part.get("type", "text") in ("text", "output_text")]
        if all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
    return None


def token_count(value: Any) -> int | None:
    """A token count a server reported: a whole number a model could use, else None (unknown) — a string,
    a negative, a boolean or an absurd figure (one past SQLite's 64 bits stopped the run) would otherwise
    reach the run's record and its sums."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return None


def without_key(text: str, secret: str | None) -> str:
    """A model's text without the key in it, in any form that reads as the key: as sent, or in full-width or
    other compatibility letters (ｓｋ-… reads as sk-… under NFKC, as the app itself compares posts). Text that
    holds no form of it is returned as it came."""
    if not secret or not text:
        return text
    if echoes(text, secret):
        return scrub(text, [secret])
    folded = unicodedata.normalize("NFKC", text)
    return scrub(folded, [secret]) if folded != text and echoes(folded, secret) else text
