"""The app's windows: created on first use, reused while open, freed when closed, reached through a protocol.

Windows are told what to do through the small protocols below, never through method names written as
strings: a window that renames `show_run` stops satisfying `ShowsRun`, and the type checker and the
architecture test say so, where a `getattr(window, "show_run", None)` would silently stop notification
clicks from landing on the run.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import Protocol, runtime_checkable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


@runtime_checkable
class Refreshable(Protocol):
    """A window that shows stored data and re-reads it when something outside it changed the data."""

    def refresh(self) -> None: ...


@runtime_checkable
class ShowsRun(Protocol):
    """A window that can bring one run into view (History, from a notification's click)."""

    def show_run(self, thread_id: str | None, run_id: str | None) -> None: ...


@runtime_checkable
class ShowsPost(Protocol):
    """A window that can bring one post into view (the Feed, from a post notification's Open)."""

    def show_post(self, post_id: int) -> None: ...


@runtime_checkable
class ShowsThreadFile(Protocol):
    """A window that can show one thread's HEARTBEAT.md (the editor, from a failure notification)."""

    def open_thread(self, thread_id: str) -> None: ...


@runtime_checkable
class HoldsUnsaved(Protocol):
    """A window whose unsaved work a quit would lose (the HEARTBEAT.md editor)."""

    def unsaved(self) -> str | None:
        """What is unsaved, as a person reads it ("the HEARTBEAT.md editor has unsaved changes"), or None."""
        ...

    def discard_unsaved(self) -> None: ...


class WindowManager(QObject):
    """One window per name (window_names.WINDOWS), built by its factory when first opened.

    Closed is gone: the widgets, their models and pages are freed, so an app open all day does not keep
    every window it ever showed; the next open builds a new one. Settings is rebuilt when hidden too (a
    dialog's Cancel hides it): it must show the settings as they are now."""

    def __init__(self, factories: Mapping[str, Callable[[], QWidget]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.factories = dict(factories)
        self._open: dict[str, QWidget] = {}

    def get(self, name: str) -> QWidget | None:
        """The window called `name` if it exists (shown or not)."""
        return self._open.get(name)

    def names(self) -> list[str]:
        return list(self._open)

    def open(self, name: str) -> QWidget | None:
        """Show a window (created on first use, then raised); None for a name with no factory."""
        window = self._open.get(name)
        if window is None or (name == "settings" and not window.isVisible()):
            factory = self.factories.get(name)
            if factory is None:
                log.warning("No window called %r", name)
                return None
            window = factory()
            window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            window.destroyed.connect(partial(self._forget, name, id(window)))
            self._open[name] = window
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def close(self, name: str) -> bool:
        """Close a window if it is open (the CLI's `close`); False when it was not, or it refused."""
        window = self._open.get(name)
        if window is None or not window.isVisible():
            return False
        return bool(window.close())

    def close_all(self) -> bool:
        """Close every window; False when one stayed open (the editor's Cancel on unsaved changes)."""
        for window in list(self._open.values()):
            window.close()
        return not any(w.isVisible() for w in self._open.values())

    def quit_blocker(self, discard: bool) -> str | None:
        """What a quit asked from outside (`heartbeat-desktop quit`) would lose, or None. The windows holding it
        are brought forward, so the user sees where; with `discard` their work is dropped and None returned."""
        held: list[str] = []
        for window in list(self._open.values()):
            if not (window.isVisible() and isinstance(window, HoldsUnsaved)):
                continue
            if discard:
                window.discard_unsaved()
            elif (what := window.unsaved()) is not None:
                held.append(what)
                window.raise_()
                window.activateWindow()
        return "; ".join(held) or None

    def refresh_visible(self) -> None:
        """Something outside the windows changed the data (a script, the CLI, an Undo): re-read it."""
        for window in list(self._open.values()):
            if window.isVisible() and isinstance(window, Refreshable):
                window.refresh()

    def focus_run(self, thread_id: str | None, run_id: str | None) -> None:
        window: object = self.open("history")  # object: mypy cannot intersect Qt's stub classes with a protocol
        if isinstance(window, ShowsRun):
            window.show_run(thread_id, run_id)

    def focus_post(self, post_id: int) -> None:
        window: object = self.open("feed")
        if isinstance(window, ShowsPost):
            window.show_post(post_id)

    def focus_heartbeat_md(self, thread_id: str | None) -> None:
        window: object = self.open("editor")
        if thread_id is not None and isinstance(window, ShowsThreadFile):
            window.open_thread(thread_id)

    def _forget(self, name: str, key: int, _obj: object = None) -> None:
        window = self._open.get(name)
        if window is not None and id(window) == key:
            del self._open[name]
        # The window's Python objects go now, and the C heap they and Qt freed goes back to the system:
        # without this glibc keeps it, and a window opened once stays in the idle app's memory all day.
        gc.collect()
        release_free_memory()


def release_free_memory() -> None:
    """Hand freed heap pages back to the system (glibc's malloc_trim); elsewhere nothing to do."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        pass
