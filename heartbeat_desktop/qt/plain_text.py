"""Text from outside the app — a model's words, a server's error — is shown as text, never as markup.

Qt guesses: a QLabel, a QMessageBox, a tooltip or a tray balloon renders a string as rich text when it
looks like HTML, so a post titled `<font size=7>` fills the screen and `<a href=…>` becomes a link.
Labels that show such text are set to plain text; where no format can be set (a tray tooltip, which a
desktop's status-notifier host may render as HTML itself; the balloon fallback), angle brackets are
replaced by look-alike quotes, which no renderer treats as a tag.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def inert(text: str) -> str:
    return text.replace("<", "\u2039").replace(">", "\u203a")


def breakable(text: str, run: int = 60) -> str:
    """`text` with a zero-width space after every `run` characters of an unbroken run (a model's URL, a hash):
    a word-wrapped QLabel cannot break inside a word, and grew its window to the word's width instead."""
    return re.sub(rf"\S{{{run}}}(?=\S)", lambda m: m.group(0) + "\u200b", text)


def plain_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
