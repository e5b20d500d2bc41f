"""What a pydantic model declares about one of its fields, for the widgets and commands that edit it.

The thread's config (`core.config.HeartbeatConfig`) and the app's settings (`core.app_settings.AppSettings`)
declare their bounds once, in `Field(ge=…, le=…)`; Settings reads them from here instead of repeating them
as literals that drift (the App page once allowed ports from 1024 while the setting accepts 0).
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

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


def _choices(annotation: Any) -> list[str]:
    """The words a Literal field (or a tuple of Literals, or an optional one) takes."""
    if get_origin(annotation) is Literal:
        return [str(arg) for arg in get_args(annotation)]
    return [word for arg in get_args(annotation) for word in _choices(arg)]


def allowed(model: type[BaseModel], key: str, error: Any, flag_words: str = "true or false") -> str:
    """What `key` accepts, as the end of "…, but …": its range, its choices, on/off, or what its own check said
    (a validator's message is written for people: "unknown IANA time zone 'Mars/Base'")."""
    annotation = model.model_fields[key].annotation
    kinds = (annotation, *get_args(annotation))
    try:
        low, high = field_bounds(model, key)
    except KeyError:
        pass
    else:
        whole = int in kinds and float not in kinds
        return f"it must be {'a whole number' if whole else 'a number'} from {_number(low)} to {_number(high)}"
    choices = _choices(annotation)
    if choices:
        return ("it must be a list of " if get_origin(annotation) is tuple else "it must be one of ") + ", ".join(
            choices
        )
    if bool in kinds:
        return f"it must be {flag_words}"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if error.get("type") == "value_error" and message:
        if message.startswith("must be "):
            return f"it {message}"
        return f"it must be {message}" if message.startswith(("a ", "an ")) else f"it is not accepted ({message})"
    return "it must be text" if str in kinds else "it is not accepted"


def replaced(
    model: type[BaseModel],
    key: str,
    value: Any,
    error: Any,
    used: str,
    *,
    flag_words: str = "true or false",
    allowed_text: str | None = None,
) -> str:
    """A stored value that does not validate, replaced: one plain sentence naming the setting, what it allows
    and what is used instead — never pydantic's wording ("Input should be less than or equal to 1440
    [type=less_than_equal, …]"), which is how `status`, `check`, Settings and the log said it before."""
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= 80 else text[:80] + "…"
    shown = repr(text) if isinstance(value, str) else text  # repr: a control character stays inert
    why = f"it must be {allowed_text}" if allowed_text else allowed(model, key, error, flag_words)
    return f"{key} is {shown}, but {why}: {used} is used instead"
