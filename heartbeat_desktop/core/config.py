"""Per-thread heartbeat configuration.

The config is stored as JSON text in the database and edited from several places (CLI, settings dialog,
local API), so loading it must never fail: a bad field falls back to *that field's* default and the problem
is reported back as a warning the caller can log and show. Only whole-object validation on *writes*
(`HeartbeatConfig(**values)` / `with_updates`) raises, so a user typing an out-of-range value is told
precisely what is allowed.
"""

from __future__ import annotations

import json
import logging
import re
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .fields import plain_error, replaced

log = logging.getLogger(__name__)

# Older clients (the web heartbeat's curl examples) send "every" instead of "every_seconds".
_ALIASES = {"every": "every_seconds"}
_HOUR_PARTNER = {"active_hours_start": "active_hours_end", "active_hours_end": "active_hours_start"}


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


class ConfigError(ValueError):
    """A config value a user tried to set is not allowed; the message names the allowed range."""


class ActiveHoursUnpaired(ConfigError):
    """One half of the active hours set without the other. Its own type so a front end can say how to set
    both at once (the CLI's `config set active_hours 22-6`) without reading the message."""


class HeartbeatConfig(BaseModel):
    # allow_inf_nan=False: a temperature of NaN is "not a finite number", not a failed "≤ 1" comparison.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True, allow_inf_nan=False)

    # Each field's help (`json_schema_extra={"help": …}`, read by `help()`) is what Settings shows as the
    # tooltip of its widget, so the words live beside the bounds and the default they describe.
    enabled: bool = Field(True, json_schema_extra=_help("run scheduled heartbeats for this thread"))
    every_seconds: int = Field(1800, ge=60, le=86400, json_schema_extra=_help("how often a heartbeat runs"))
    target: Literal["none", "last"] = Field(
        "none", json_schema_extra=_help("none: the feed only; last: also a message in the most recently active thread")
    )
    model: str | None = Field(
        None, min_length=1, max_length=200, json_schema_extra=_help("this thread's model; empty: the app's default")
    )
    max_tokens: int = Field(500, ge=10, le=4000, json_schema_extra=_help("the longest reply the model may write"))
    # 0.2, not the 0.7 chat apps use: a heartbeat is a decision, not prose. Measured on Qwen2.5-Coder-1.5B, the
    # built-in suite, the same code: 0.7 → 55 % right action, 37.5 % false action; 0.2 → 65 % and 21 %
    # (benchmarks/results.md). A thread stored before keeps the value it was saved with.
    temperature: float = Field(0.2, ge=0.0, le=1.0, json_schema_extra=_help("0: the same answer each time; 1: varied"))
    dry_run: bool = Field(False, json_schema_extra=_help("decide and record the decision, but write nothing"))
    active_hours_start: int | None = Field(None, ge=0, le=23, json_schema_extra=_help("first hour heartbeats run"))
    active_hours_end: int | None = Field(
        None, ge=0, le=23, json_schema_extra=_help("the hour they stop (before start: overnight)")
    )
    timezone: str | None = Field(
        None,
        description="IANA zone name; None means the machine's local zone",
        json_schema_extra=_help("the zone of the active hours and the daily caps (empty: this computer's)"),
    )
    always_ask: bool = Field(
        False, json_schema_extra=_help("ask the model even when nothing changed since the last successful run")
    )
    align_to_clock: bool = Field(
        True,
        json_schema_extra=_help(
            "intervals that divide a day run at fixed clock times (30 min → :00 and :30), so restarts keep the rhythm"
        ),
    )
    busy_minutes: int = Field(
        5, ge=0, le=240, json_schema_extra=_help("wait while you wrote in the thread this recently (0: never wait)")
    )
    # Desktop notifications, independent of `target`: posts and failures on, comments and votes off.
    notify_posts: bool = Field(True, json_schema_extra=_help("a notification for each post"))
    notify_failures: bool = Field(True, json_schema_extra=_help("a notification when a heartbeat fails"))
    notify_comments: bool = Field(False, json_schema_extra=_help("a notification for each comment"))
    notify_votes: bool = Field(False, json_schema_extra=_help("a notification for each vote"))
    # Guard rails no prompt can talk its way past: which actions this thread may take at all, and how many
    # a day (in the thread's time zone). "none" is always allowed.
    allowed_actions: tuple[Literal["post", "comment", "vote"], ...] = Field(
        ("post", "comment", "vote"), json_schema_extra=_help("what the agent may do besides nothing")
    )
    max_posts_per_day: int = Field(10, ge=0, le=200, json_schema_extra=_help("posts a day at most"))
    max_comments_per_day: int = Field(20, ge=0, le=500, json_schema_extra=_help("comments a day at most"))
    max_votes_per_day: int = Field(20, ge=0, le=500, json_schema_extra=_help("votes a day at most"))
    pause_after_same_answer: int = Field(
        3,
        ge=0,
        le=50,
        json_schema_extra=_help(
            "pause the thread after this many refused answers in a row that are the same (0: never)"
        ),
    )
    # An action must cite something the thread's last heartbeat had not seen (core/citations.py, #26).
    require_new_evidence: bool = Field(
        True,
        json_schema_extra=_help("refuse an action when nothing new since the last heartbeat calls for it"),
    )
    # Presence (Linux desktops that say; elsewhere nothing is deferred). "Run now" is never deferred.
    defer_when_locked: bool = Field(True, json_schema_extra=_help("wait while the screen is locked"))
    defer_when_idle_minutes: int = Field(
        30, ge=0, le=1440, json_schema_extra=_help("wait while you have been idle this long (0: never)")
    )
    defer_on_battery: bool = Field(False, json_schema_extra=_help("wait while on battery"))
    defer_on_metered: bool = Field(False, json_schema_extra=_help("wait while on a metered network"))
    # How the model is asked (core/decide.py). `heartbeat-desktop eval --mode` and Settings → Compare
    # models… measure which suits a model.
    decision_mode: Literal["direct", "reason-first"] = Field(
        "direct",
        json_schema_extra=_help("direct: one answer in the decision format; reason-first: a few sentences first"),
    )

    @classmethod
    def help(cls, key: str) -> str:
        extra = cls.model_fields[key].json_schema_extra
        return str(extra.get("help", "")) if isinstance(extra, dict) else ""

    def daily_limit(self, action: str) -> int:
        """How many of `action` this thread may take a day (the caps are checked where the action is
        written, inside its transaction, so concurrent runs cannot overshoot them)."""
        return {
            "post": self.max_posts_per_day,
            "comment": self.max_comments_per_day,
            "vote": self.max_votes_per_day,
        }[action]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "local"):
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("allowed_actions", mode="before")
    @classmethod
    def _action_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # the CLI: "post,vote"; "" or "none" allows nothing but HEARTBEAT_OK
            value = [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",")]
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(value))  # keep order, drop repeats
        return value

    @field_validator("model")
    @classmethod
    def _strip_model(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    @model_validator(mode="after")
    def _hours_pair(self) -> HeartbeatConfig:
        if (self.active_hours_start is None) != (self.active_hours_end is None):
            raise ValueError("active_hours_start and active_hours_end must be set together")
        return self

    # ----------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> HeartbeatConfig:
        """Lenient load: see `load`. Warnings are logged."""
        config, warnings = cls.load(data)
        for warning in warnings:
            log.warning("Config: %s", warning)
        return config

    @classmethod
    def load(cls, data: Any) -> tuple[HeartbeatConfig, list[str]]:
        """Build a config from stored data, replacing each bad field by its default.

        Returns the config and a list of human-readable warnings (empty when everything was fine).
        """
        warnings: list[str] = []
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data) if data.strip() else {}
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                warnings.append(
                    f"stored config is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); "
                    f"using defaults. Stored text: {_clip(data)}"
                )
                return cls(), warnings
        if data is None:
            return cls(), warnings
        if not isinstance(data, dict):
            warnings.append(f"stored config is not an object; using defaults. Stored text: {_clip(data)}")
            return cls(), warnings

        good: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = _ALIASES.get(raw_key, raw_key)
            if key not in cls.model_fields:
                warnings.append(f"unknown setting {raw_key!r} ignored")
                continue
            try:
                # Validate the field alone so one bad value cannot poison the others; an active-hours
                # half is paired with a neutral partner here and checked as a pair below.
                partner = _HOUR_PARTNER.get(key)
                cls.model_validate({key: value, **({partner: 0} if partner and value is not None else {})})
            except ValidationError as exc:
                warnings.append(cls._replaced(key, value, exc.errors()[0]))
                continue
            good[key] = value
        try:
            return cls(**good), warnings
        except ValidationError:
            # Only cross-field rules can fail here (an active-hours pair with one half missing).
            half, other = (
                ("active_hours_start", "active_hours_end")
                if good.get("active_hours_start") is not None
                else ("active_hours_end", "active_hours_start")
            )
            warnings.append(
                f"{half} is set without {other}, but the two are set together (each an hour from 0 to 23): "
                "all day (no active hours) is used instead"
            )
            good.pop("active_hours_start", None)
            good.pop("active_hours_end", None)
            return cls(**good), warnings

    @classmethod
    def _replaced(cls, key: str, value: Any, error: Any) -> str:
        """The warning for a stored value that is replaced by its default, in plain words."""
        default = cls.model_fields[key].default
        if default is None:
            used = {
                "model": "the app's default model",
                "timezone": "local time",
                "active_hours_start": "all day (no active hours)",
                "active_hours_end": "all day (no active hours)",
            }.get(key, "nothing")
        elif isinstance(default, tuple):
            used = "the default (" + (",".join(default) or "none") + ")"
        else:
            used = f"the default ({str(default).lower() if isinstance(default, bool) else default})"
        override = {
            "model": "a model name such as llama3.2 or openai:gpt-4o-mini",
            "timezone": cls.describe_bounds("timezone"),
        }.get(key)
        return replaced(cls, key, value, error, used, allowed_text=override)

    def with_updates(self, /, **updates: Any) -> HeartbeatConfig:
        """Strict update used by every writer: raises ConfigError naming the allowed range."""
        values = self.to_dict()
        named: dict[str, str] = {}  # setting → the name it was given by (an alias and its setting both: refused)
        for raw_key, value in updates.items():
            key = _ALIASES.get(raw_key, raw_key)
            if key not in type(self).model_fields:
                raise ConfigError(f"unknown setting {raw_key!r}; known: {', '.join(type(self).model_fields)}")
            if key in named:
                raise ConfigError(f"{named[key]!r} and {raw_key!r} name the same setting: give one")
            named[key] = raw_key
            _check_kind(key, value)
            values[key] = value
        try:
            return type(self)(**values)
        except ValidationError as exc:
            # Field errors come first; only when every field is valid does the pair rule run, and fail.
            unpaired = (values["active_hours_start"] is None) != (values["active_hours_end"] is None)
            field_error = any(err.get("loc") for err in exc.errors())
            kind = ActiveHoursUnpaired if unpaired and not field_error else ConfigError
            raise kind(_first_error(exc, with_range=True)) from None

    @classmethod
    def describe_bounds(cls, key: str) -> str:
        """The allowed values of one field, for error messages and help text."""
        field = cls.model_fields[key]
        lo = hi = None
        for meta in field.metadata:
            lo = getattr(meta, "ge", lo)
            hi = getattr(meta, "le", hi)
        if lo is not None and hi is not None:
            return f"{lo}–{hi}"
        if key == "target":
            return "none|last"
        if key == "decision_mode":
            return "direct|reason-first"
        if key == "allowed_actions":
            return "a comma-separated list of post, comment, vote — or none"
        if key == "timezone":
            return "an IANA time zone name such as Europe/Berlin or America/New_York, or local"
        if key == "model":
            return "a model name, e.g. llama3.2 or openai:gpt-4o-mini; null for the app default"
        if field.annotation is bool:
            return "true|false"
        return "any text"


def parse_cli_value(key: str, text: str) -> Any:
    """Turn a command-line string into the JSON value of a config field ('null' clears optional ones)."""
    key = _ALIASES.get(key, key)
    if key not in HeartbeatConfig.model_fields:
        raise ConfigError(f"unknown setting {key!r}; known: {', '.join(HeartbeatConfig.model_fields)}")
    lowered = text.strip().lower()
    if key == "allowed_actions":  # "post,vote"; "none" allows nothing but HEARTBEAT_OK
        return text.strip()
    if lowered in ("null", "none", "") and key not in ("target",):
        return None
    annotation = HeartbeatConfig.model_fields[key].annotation
    if annotation is bool:
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, not {text!r}")
    if key in (
        "every_seconds",
        "max_tokens",
        "active_hours_start",
        "active_hours_end",
        "busy_minutes",
        "max_posts_per_day",
        "max_comments_per_day",
        "max_votes_per_day",
        "pause_after_same_answer",
    ):
        try:
            if not re.fullmatch(r"[+-]?\d+", lowered):  # int() also takes "600_0" (as 6000) and "٣٠"
                raise ValueError(lowered)
            return int(lowered)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number in {HeartbeatConfig.describe_bounds(key)}") from None
    if key == "temperature":
        try:
            return float(lowered)
        except ValueError:
            raise ConfigError(f"temperature must be a number in {HeartbeatConfig.describe_bounds(key)}") from None
    return text.strip()


def _check_kind(key: str, value: Any) -> None:
    """An update's value has its field's own kind: pydantic's lax mode would turn "false", "yes" or 1 into a
    boolean and "30" into a number. Every writer (the CLI's `parse_value`, Settings' widgets, the API's JSON)
    has typed values by here, so a string where a boolean belongs is a mistake to report, not to guess at
    (the API's `{"enabled": "false"}` would have turned the thread on)."""
    annotation = HeartbeatConfig.model_fields[key].annotation
    members = set(get_args(annotation)) if get_origin(annotation) in (Union, UnionType) else {annotation}
    if value is None and type(None) in members:
        return
    kinds = members - {type(None)}
    bounds = HeartbeatConfig.describe_bounds(key)
    wanted: str | None = None
    if kinds == {bool} and not isinstance(value, bool):
        wanted = "true or false"
    elif kinds == {int} and (isinstance(value, bool) or not isinstance(value, int)):
        wanted = f"a whole number in {bounds}"
    elif kinds == {float} and (isinstance(value, bool) or not isinstance(value, int | float)):
        wanted = f"a number in {bounds}"
    elif kinds == {str} and not isinstance(value, str):
        wanted = f"text ({bounds})"
    if wanted is not None:
        given = f"the text {_clip(value)!r}" if isinstance(value, str) else _clip(value)
        raise ConfigError(f"{key} must be {wanted}, not {given}")


def parse_active_hours(text: str) -> dict[str, int | None]:
    """ "22-6" → overnight 22:00–06:00, "9-17", "off" → all day."""
    lowered = text.strip().lower()
    if lowered in ("off", "none", "null", "", "all"):
        return {"active_hours_start": None, "active_hours_end": None}
    try:
        start, end = (int(part) for part in lowered.replace("–", "-").split("-"))
    except ValueError:
        raise ConfigError(f"active_hours must look like 9-17 or 22-6 (hours 0–23), or off; not {text!r}") from None
    if start == end:  # it would mean "all day", which is written "off": say so rather than guess
        raise ConfigError(f"active_hours {text!r} starts and ends at the same hour; for all day use off")
    return {"active_hours_start": start, "active_hours_end": end}


def _first_error(exc: ValidationError, with_range: bool = False) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    field = loc.split(".")[0]
    if with_range and field in HeartbeatConfig.model_fields:
        plain = plain_error(HeartbeatConfig, field, err)
        return plain or f"{field}: {msg} (allowed: {HeartbeatConfig.describe_bounds(field)})"
    return f"{loc}: {msg}" if loc else msg


def _clip(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
