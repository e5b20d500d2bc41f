"""App-wide settings, declared once: name, type, bounds, default and help text.

The settings table (store/settings.py) keeps text; `AppSettings.load` turns it into this typed model, a bad
stored value falling back to its default with a warning (as `HeartbeatConfig.load` does for threads). The
CLI's `settings get/set` (their list, help and checks), the runner's defaults, the API's on/off and port and
the Settings dialog's bounds all read these fields, so a new setting is one declaration here.

A field's `json_schema_extra` says where it is shown: `cli` (listed by `settings get` and set by `settings
set`; the API ones have their own `api` command, the pause flag is the tray's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .fields import field_bounds, plain_error, replaced

DEFAULT_MODEL = "llama3.2"
DEFAULT_TIMEOUT_S = 120.0
# The context window prompts are built to fit unless the server reported a smaller one: Ollama's default
# since 0.6 and LM Studio's; Ollama is asked for it explicitly (num_ctx).
DEFAULT_CONTEXT_TOKENS = 4096
DEFAULT_API_PORT = 8787

_HOST = re.compile(r"^(?:(https?)://)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?(/\S*)?$")
_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no")
_DURATION = re.compile(r"^(-1|\d+(\.\d+)?(ms|s|m|h)?)$")


def keep_alive_value(text: str) -> int | str:
    """As Ollama reads `keep_alive`: a bare number is seconds (sent as a number: a string without a unit
    is not a Go duration), anything else a duration string; -1 keeps the model loaded."""
    return int(text) if text.lstrip("-").isdigit() else text


def check_host(text: str) -> str:
    """A host as typed (`settings set ollama_host`, Settings): `http(s)://host[:port]` or `host:port`.
    Raises ValueError saying what is wrong. A bare word is refused: `notaurl` is far likelier a slip than a
    server listening on port 80 of a machine named so."""
    value = text.strip().rstrip("/")
    match = _HOST.match(value)
    if "://" in value and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{value!r}: the model server is reached over http:// or https://")
    if match is None:
        raise ValueError(f"{value!r} is not a server address; use e.g. http://127.0.0.1:11434")
    scheme, _host, port = match.group(1), match.group(2), match.group(3)
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: the port must be 1–65535")
    if scheme is None and port is None:
        raise ValueError(f"{value!r} is not a server address; did you mean http://{value}:11434?")
    path = match.group(4) or ""
    endpoint = re.search(r"/api(/[a-z]+)?/?$", path)
    if endpoint is not None:
        # The app adds /api/chat itself: with /api in the address every request went to /api/api/chat, and the
        # 404 read as "model not installed". A path before /api (a reverse proxy's prefix) is kept.
        base = value[: len(value) - len(path) + endpoint.start()]
        raise ValueError(f"{value!r} is an endpoint of the server, not its address: use {base}")
    return value


def _cli(help_text: str) -> dict[str, Any]:
    return {"cli": True, "help": help_text}


class AppSettings(BaseModel):
    # allow_inf_nan=False: `settings set llm_timeout nan` is "not a finite number", not a failed "≤ 3600".
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    ollama_host: str | None = Field(None, json_schema_extra=_cli("Ollama server URL"))
    default_model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        max_length=200,
        json_schema_extra=_cli("model used by threads that do not set one"),
    )
    llm_timeout: float = Field(
        DEFAULT_TIMEOUT_S, ge=1, le=3600, json_schema_extra=_cli("seconds to wait for the model before a run fails")
    )
    context_tokens: int = Field(
        DEFAULT_CONTEXT_TOKENS,
        ge=1024,
        le=1_048_576,
        json_schema_extra=_cli("the model's context window prompts are built to fit, in tokens"),
    )
    model_keep_alive: str = Field(
        "0",
        json_schema_extra=_cli(
            "how long Ollama keeps a model in memory after a heartbeat: 0 frees it at once, 5m, 1h, -1 keeps it"
        ),
    )
    hold_during_dnd: bool = Field(
        True, json_schema_extra=_cli("hold notifications while Do Not Disturb is on, then show one summary")
    )
    keep_run_details_days: int = Field(
        30,
        ge=0,
        le=36500,
        json_schema_extra=_cli(
            "days each run keeps its prompt and the model's reply; older runs keep their decision and outcome"
            " (0 keeps them forever)"
        ),
    )
    api_enabled: bool = False
    api_port: int = Field(DEFAULT_API_PORT, ge=0, le=65535)  # 0: any free port (tests, a second profile)
    scheduler_paused: bool = False
    setup_done: bool = False  # the first-run window was completed or dismissed: not offered at a start again

    @field_validator("ollama_host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return check_host(value) if value else None

    @field_validator("model_keep_alive")
    @classmethod
    def _duration(cls, value: str) -> str:
        text = value.strip().lower()
        if not _DURATION.match(text):
            raise ValueError("a duration such as 0, 30s, 5m, 1h, or -1 to keep the model loaded")
        return text

    @field_validator("hold_during_dnd", "api_enabled", "scheduler_paused", "setup_done", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = value.strip().lower()
            if word not in _ON + _OFF:
                raise ValueError("must be on or off")
            return word in _ON
        return value

    # ------------------------------------------------------------------ text in, text out
    @classmethod
    def load(cls, stored: Mapping[str, str]) -> tuple[AppSettings, list[str]]:
        """From the settings table; a value that does not validate is replaced by its default, and said."""
        values = {k: v for k, v in stored.items() if k in cls.model_fields and v not in (None, "")}
        warnings: list[str] = []
        while True:
            try:
                return cls(**values), warnings
            except ValidationError as exc:
                for error in exc.errors():
                    key = str(error["loc"][0])
                    used = f"the default ({cls.shown(key, cls.model_fields[key].default)})"
                    warnings.append(replaced(cls, key, values.pop(key, None), error, used, flag_words="on or off"))

    @classmethod
    def cli_keys(cls) -> dict[str, str]:
        """The settings `heartbeat-desktop settings` lists and sets, with their help."""
        out: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("cli"):
                out[name] = f"{extra['help']} (default: {cls.shown(name, field.default)})"
        return out

    @classmethod
    def help(cls, key: str) -> str:
        extra = cls.model_fields[key].json_schema_extra
        return str(extra.get("help", "")) if isinstance(extra, dict) else ""

    @classmethod
    def check(cls, key: str, text: str) -> str:
        """Validate one value as typed; return it as it is stored. Raises ValueError with the reason."""
        if key not in cls.model_fields:
            raise ValueError(f"unknown setting {key!r}")
        try:
            value = getattr(cls(**{key: text.strip()}), key)
        except ValidationError as exc:
            error = exc.errors()[0]
            plain = plain_error(cls, key, error)
            if plain is not None:
                raise ValueError(plain) from None
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{key}: {message}") from None
        return cls.stored(value)

    @staticmethod
    def stored(value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    @staticmethod
    def shown(name: str, value: Any) -> str:
        if value is None and name == "ollama_host":
            return "$OLLAMA_HOST or http://127.0.0.1:11434"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    def bounds(self, key: str) -> tuple[float, float]:
        """(ge, le) of a numeric field, for a spin box."""
        return field_bounds(type(self), key)
