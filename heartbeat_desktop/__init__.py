"""Heartbeat Desktop: a tray app that gives a personal AI agent a heartbeat."""

import importlib
import sys
import types

__version__ = "0.1.0"


def _no_pydantic_plugins() -> None:
    """pydantic looks for plugins (package entry points) when it builds its first model, and the lookup
    imports importlib.metadata with email, csv and zipfile: about 2.5 MB of the idle tray app's memory and
    10 ms of its launch (issue #17), for plugins this app never uses. Its documented switch,
    PYDANTIC_DISABLE_PLUGINS, skips the lookup but not that import; answering the loader's one question
    (`get_plugins()`: none) does both. If a later pydantic asks something else, the stand-in is not used:
    any other name asked of the stand-in loads the real loader and answers from it."""
    name = "pydantic.plugin._loader"
    if name in sys.modules:
        return
    loader = types.ModuleType(name, "No pydantic plugins in Heartbeat Desktop (see heartbeat_desktop/__init__.py).")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]

    def real(attr: str) -> object:
        if attr.startswith("__"):  # the import system probing (`__path__`…): a plain module has none
            raise AttributeError(attr)
        sys.modules.pop(name, None)
        return getattr(importlib.import_module(name), attr)

    loader.__getattr__ = real  # type: ignore[method-assign]
    sys.modules[name] = loader


_no_pydantic_plugins()
