"""What a pydantic model declares about one of its fields, for the widgets and commands that edit it.

The thread's config (`core.config.HeartbeatConfig`) and the app's settings (`core.app_settings.AppSettings`)
declare their bounds once, in `Field(ge=…, le=…)`; Settings reads them from here instead of repeating them
as literals that drift (the App page once allowed ports from 1024 while the setting accepts 0).
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel


def field_bounds(model: type[BaseModel], key: str) -> tuple[float, float]:
    """(ge, le) of a numeric field. A field declared without both is a programming error: KeyError."""
    meta = model.model_fields[key].metadata
    low = next((m.ge for m in meta if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in meta if getattr(m, "le", None) is not None), None)
    if low is None or high is None:
        raise KeyError(f"{model.__name__}.{key} declares no ge/le bounds")
    return float(low), float(high)


_RANGE_ERRORS = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")
_NUMBER_ERRORS = ("int_parsing", "float_parsing", "int_from_float", "int_type", "float_type", "finite_number")


def plain_error(model: type[BaseModel], key: str, error: Any) -> str | None:
    """A bounded number's refusal in plain words with the setting's real bounds ("must be a whole number from
    60 to 86400, not 10"), or None for other errors. pydantic's own wording ("Input should be greater than or
    equal to 60") reached the user as it was."""
    if error.get("type") not in (*_RANGE_ERRORS, *_NUMBER_ERRORS):
        return None
    try:
        low, high = field_bounds(model, key)
    except KeyError:
        return None
    annotation = model.model_fields[key].annotation
    whole = int in (annotation, *get_args(annotation)) and float not in get_args(annotation)
    kind = "a whole number" if whole else "a number"
    given = error.get("input")
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        shown = _number(float(given))
    else:  # text that is no number is quoted; a number typed as text ("0") is shown as typed
        shown = repr(given) if isinstance(given, str) and error.get("type") in _NUMBER_ERRORS else str(given)
    return f"{key} must be {kind} from {_number(low)} to {_number(high)}, not {shown}"


def _number(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else f"{value:g}"
