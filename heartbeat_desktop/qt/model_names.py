"""Model names where there is little room: the one way Set up, Compare models, Settings' thread page and their
status lines show them.

A llama.cpp server names its model by the file it loaded (`/home/u/models/qwen2.5-1.5b-q4_k_m.gguf`); shown
whole, such a name pushed Set up's list, its labels and the comparison table wider than the window. Where
room is short the name is shown by its file name, elided in the middle if still long (the start and the
quantisation at the end are what tell two files apart), with the full name as the tooltip and the accessible
description; the value kept and stored is always the full name (`FULL_NAME` on an item).
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QListWidgetItem, QTableWidgetItem, QTreeWidgetItem

SHORT_MAX = 40  # characters of a name shown in a narrow place
FULL_NAME = Qt.ItemDataRole.UserRole + 7  # an item's full model name (its text may be shortened)

# "provider:" (not a drive letter) before a path: /abs, ~/…, ./…, C:\… or C:/…
_PATH = re.compile(r"^(?P<prefix>[^/\\:]{2,}:)?(?P<path>(?:[A-Za-z]:)?[/\\~.].*[/\\].*)$")


def short_model_name(name: str, limit: int = SHORT_MAX) -> str:
    """`name` for a narrow place: a path's file name (a provider prefix kept: `llama:qwen.gguf`), elided in
    the middle to `limit` characters (the prefix aside). Names that are no paths (`qwen/qwen2.5-7b`,
    `hf.co/…`) keep their slashes."""
    path = _PATH.match(name)
    if path is None:
        return _elide(name, limit)
    tail = re.split(r"[/\\]", path.group("path").rstrip("/\\"))[-1]
    return (path.group("prefix") or "") + _elide(tail or name, limit)


def _elide(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def set_model_item(item: QListWidgetItem | QTableWidgetItem, name: str) -> None:
    """A list or table item that shows a model: the short name, the full one as tooltip, description, data."""
    item.setText(short_model_name(name))
    for role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole, FULL_NAME):
        item.setData(role, name)


def set_model_tree_item(item: QTreeWidgetItem, column: int, name: str) -> None:
    item.setText(column, short_model_name(name))
    for role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole, FULL_NAME):
        item.setData(column, role, name)


def full_model_name(item: QListWidgetItem | QTableWidgetItem) -> str:
    value = item.data(FULL_NAME)
    return value if isinstance(value, str) else item.text()


def set_model_label(label: QLabel, text: str, *names: str) -> None:
    """A status line that names models by `short_model_name`: the full names go in its tooltip and
    accessible description (cleared when none was shortened)."""
    label.setText(text)
    whole = "\n".join(n for n in names if short_model_name(n) != n)
    label.setToolTip(whole)
    label.setAccessibleDescription(whole)


def fit_model_combo(combo: QComboBox) -> None:
    """An editable model box keeps the full name in its text (it is what is stored and what one edits), but
    a long name must not widen the dialog: its size follows a short name and its list elides in the middle,
    each entry with the full name as its tooltip."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(24)
    view = combo.view()
    if view is not None:
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)


def set_model_combo_items(combo: QComboBox, names: list[str]) -> None:
    combo.addItems(names)
    for index, name in enumerate(names):
        combo.setItemData(index, name, Qt.ItemDataRole.ToolTipRole)
        combo.setItemData(index, name, Qt.ItemDataRole.AccessibleDescriptionRole)
