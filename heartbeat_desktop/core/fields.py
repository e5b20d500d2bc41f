"""What a pydantic model declares about one of its fields, for the widgets and commands that edit it.

The thread's config (`core.config.HeartbeatConfig`) and the app's settings (`core.app_settings.AppSettings`)
declare their bounds once, in `Field(ge=…, le=…)`; Settings reads them from here instead of repeating them
as literals that drift (the App page once allowed ports from 1024 while the setting accepts 0).
"""

from __future__ import annotations

from pydantic import BaseModel


def field_bounds(model: type[BaseModel], key: str) -> tuple[float, float]:
    """(ge, le) of a numeric field. A field declared without both is a programming error: KeyError."""
    meta = model.model_fields[key].metadata
    low = next((m.ge for m in meta if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in meta if getattr(m, "le", None) is not None), None)
    if low is None or high is None:
        raise KeyError(f"{model.__name__}.{key} declares no ge/le bounds")
    return float(low), float(high)
