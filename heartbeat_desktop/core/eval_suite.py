"""A decision-quality suite: plain data (TOML or JSON) a user can write for their own HEARTBEAT.md.

Each situation is a small world — a HEARTBEAT.md, a thread's messages and notes, feed posts, a time — and
the decisions that are right in it. The models below are the suite's schema (docs/decision-quality.md
describes it for users); `parse_suite` turns a file's text into one, naming the situation and field of
whatever is wrong. `core/evaluation.py` runs it.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .config import ConfigError, HeartbeatConfig
from .models import FeedComment, FeedPost
from .tasks import Task, TaskError, parse_task
from .verdict import Verdict

SUITE_FORMATS = ("toml", "json")

EVAL_THREAD = "eval"


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the situation and field."""


# --------------------------------------------------------------------------- the suite's schema
# How long ago a message or post may be, and which years a situation's `now` may name: enough for any situation,
# and far from the ends of the platform's time (an earlier suite file's "year 10000" crashed the run).
_TEN_YEARS_MIN = 10 * 366 * 24 * 60
_YEARS = (1980, 2999)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteMessage(_Strict):
    role: Literal["user", "assistant", "system"] = "user"
    text: str = Field(min_length=1)
    minutes_ago: float = Field(30, ge=0, le=_TEN_YEARS_MIN, allow_inf_nan=False)
    seen: StrictBool = False  # the thread's last heartbeat was already shown it (and answered)


class SuiteNote(_Strict):
    kind: Literal["memory", "contradiction"] = "memory"
    text: str = Field(min_length=1)
    seen: StrictBool = False


class SuiteComment(_Strict):
    """A comment on a situation's post, as the context shows it: by the user (`by = "user"`) or a thread."""

    by: str = Field("user", min_length=1)
    text: str = Field(min_length=1)
    minutes_ago: float = Field(30, ge=0, le=_TEN_YEARS_MIN, allow_inf_nan=False)


class SuitePost(_Strict):
    id: StrictInt = Field(gt=0)
    title: str = Field(min_length=1)
    content: str = ""
    score: StrictInt = 0
    # How many comments (a count), or the comments themselves (their count is how many they are)
    comments: Annotated[StrictInt, Field(ge=0)] | list[SuiteComment] = 0
    thread: str | None = "another-thread"  # the thread that posted it (None: a person); EVAL_THREAD: this one
    minutes_ago: float = Field(60, ge=0, le=_TEN_YEARS_MIN, allow_inf_nan=False)
    seen: StrictBool = False

    def feed_post(self, now: float) -> FeedPost:
        """The post as the store gives a heartbeat: its comments (a count, or the comments themselves) too."""
        if isinstance(self.comments, int):
            return FeedPost(self.id, self.thread, self.title, self.content, self.score, self.comments, self._at(now))
        oldest_first = sorted(self.comments, key=lambda c: -c.minutes_ago)
        comments = tuple(
            FeedComment(i + 1, self.id, None if c.by == "user" else c.by, None, c.text, now - c.minutes_ago * 60)
            for i, c in enumerate(oldest_first)
        )
        count = len(comments)
        return FeedPost(
            self.id, self.thread, self.title, self.content, self.score, count, self._at(now), latest_comments=comments
        )

    def _at(self, now: float) -> float:
        return now - self.minutes_ago * 60


class SuiteRejected(_Strict):
    """An earlier action of this thread the user rejected (#26): the next heartbeat is told, and the app
    refuses the same answer again."""

    action: Literal["post", "comment", "vote"]
    title: str = ""  # a post's title; for a comment or vote, the post's
    post_id: StrictInt | None = Field(None, gt=0)  # what a comment or vote was on
    how: Literal["undone", "voted down", "marked not useful"] = "marked not useful"
    reason: Literal["not now", "already knew", "wrong thread", "wrong"] | None = None
    minutes_ago: float = Field(600, ge=0, le=_TEN_YEARS_MIN, allow_inf_nan=False)

    @model_validator(mode="after")
    def _target(self) -> SuiteRejected:
        if self.action != "post" and self.post_id is None:
            raise ValueError(f"a rejected {self.action} needs the post_id it was on")
        return self


class Expected(_Strict):
    """One acceptable decision. Unset fields accept anything: `{action = "vote", post_id = 3}` accepts an
    up or a down vote on post 3. `rule` is the HEARTBEAT.md item (by number, core/citations.py) an action
    should cite: it does not change what is right, it is scored as "right rule"."""

    action: Literal["none", "post", "comment", "vote"]
    post_id: StrictInt | None = Field(None, gt=0)
    direction: Literal["up", "down"] | None = None
    rule: StrictInt | None = Field(None, gt=0, le=40)

    @model_validator(mode="after")
    def _rule_for_an_action(self) -> Expected:
        if self.rule is not None and self.action == "none":
            raise ValueError("rule names the item an action follows; doing nothing cites none")
        return self

    def accepts(self, verdict: Verdict) -> bool:
        return (
            verdict.outcome == "valid"
            and verdict.action == self.action
            and (self.post_id is None or verdict.post_id == self.post_id)
            and (self.direction is None or verdict.direction == self.direction)
        )

    def label(self) -> str:
        target = f" {self.direction}" if self.direction else ""
        rule = f" (rule {self.rule})" if self.rule is not None else ""
        return f"{self.action}{target}" + (f" on #{self.post_id}" if self.post_id else "") + rule


class Situation(_Strict):
    id: str = Field(min_length=1, max_length=80)
    description: str = ""
    heartbeat_md: str | None = None  # None: the suite's
    now: datetime  # local time in `timezone` (an offset in the value wins)
    timezone: str = "UTC"
    title: str = "Personal assistant"
    config: dict[str, Any] = Field(default_factory=dict)  # thread config fields: allowed_actions, caps…
    done_today: dict[str, StrictInt] = Field(default_factory=dict)  # actions this thread already took today
    messages: list[SuiteMessage] = Field(default_factory=list)
    notes: list[SuiteNote] = Field(default_factory=list)
    posts: list[SuitePost] = Field(default_factory=list)
    rejected: list[SuiteRejected] = Field(default_factory=list)  # the user's earlier no (#26)
    # A task's run instead of a heartbeat (core/tasks.py): its line, as in a `## Tasks` section. The model is
    # asked to write that task (a post) or to say there is nothing to write (none).
    task: str | None = None
    expect: list[Expected] = Field(min_length=1)

    @field_validator("expect", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`expect = "none"` or `["none", {action = "vote", post_id = 3}]`: a bare word is an action."""
        items = value if isinstance(value, list) else [value]
        return [{"action": item} if isinstance(item, str) else item for item in items]

    @field_validator("task")
    @classmethod
    def _task(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_task(value)
            except TaskError as exc:
                raise ValueError(f"task: {exc}") from None
        return value

    @property
    def parsed_task(self) -> Task | None:
        return parse_task(self.task) if self.task is not None else None

    @field_validator("now")
    @classmethod
    def _year(cls, value: datetime) -> datetime:
        if not _YEARS[0] <= value.year <= _YEARS[1]:
            raise ValueError(f"now must be in the years {_YEARS[0]}–{_YEARS[1]}, not {value.year}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Situation:
        for kind, count in self.done_today.items():
            if kind not in ("post", "comment", "vote") or count < 0:
                raise ValueError(f"done_today: {kind} = {count} (post, comment or vote, a count of 0 or more)")
        ids = [p.id for p in self.posts]
        if len(ids) != len(set(ids)):
            raise ValueError("two posts have the same id")
        for expected in self.expect:
            if self.task is not None and (expected.action not in ("post", "none") or expected.rule is not None):
                raise ValueError("a task's run writes a post or nothing, and cites no rule (the task calls for it)")
            if expected.post_id is not None and expected.post_id not in ids:
                raise ValueError(f"expect names post {expected.post_id}, which is not among the posts")
        own = sorted(set(self.config) & {"model", "decision_mode", "timezone"})
        if own:
            where = "the situation's own `timezone`" if own == ["timezone"] else "the command line (--model, --mode)"
            raise ValueError(f"config: {', '.join(own)} cannot be set here; it comes from {where}")
        try:
            HeartbeatConfig().with_updates(**self.config)
        except ConfigError as exc:
            raise ValueError(f"config: {exc}") from None
        return self

    @property
    def now_ts(self) -> float:
        local = self.now if self.now.tzinfo else self.now.replace(tzinfo=ZoneInfo(self.timezone))
        return local.timestamp()

    @property
    def calls_for_nothing(self) -> bool:
        return all(e.action == "none" for e in self.expect)

    @property
    def has_target(self) -> bool:
        return any(e.post_id is not None for e in self.expect)

    @property
    def names_rule(self) -> bool:
        return any(e.rule is not None for e in self.expect)

    @property
    def has_feedback(self) -> bool:
        """Earlier feedback should shape the decision: the user rejected something, or the last heartbeat
        already saw what is here."""
        seen = [m.seen for m in self.messages] + [n.seen for n in self.notes] + [p.seen for p in self.posts]
        return bool(self.rejected) or any(seen)


class Suite(_Strict):
    name: str = "suite"
    description: str = ""
    heartbeat_md: str | None = None  # for situations without their own; None: the user's HEARTBEAT.md
    situations: list[Situation] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        seen: set[str] = set()
        for s in self.situations:
            if s.id in seen:
                raise ValueError(f"two situations are called {s.id!r}")
            seen.add(s.id)
        return self

    def needs_heartbeat_md(self) -> bool:
        return self.heartbeat_md is None and any(s.heartbeat_md is None for s in self.situations)


def parse_suite(text: str, fmt: str) -> Suite:
    """A suite from its text (`fmt`: toml or json). Raises SuiteError saying where it is wrong."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SuiteError(f"not valid {fmt.upper()}: {exc}") from None
    except RecursionError:
        raise SuiteError(f"not valid {fmt.upper()}: nested too deeply") from None
    if not isinstance(data, dict):
        raise SuiteError("a suite is an object with a list of `situations`")
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(_where(exc, data)) from None
    except RecursionError:
        raise SuiteError("nested too deeply") from None


def suite_format(name: str | PurePath) -> str:
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix not in SUITE_FORMATS:
        raise SuiteError(f"a suite file ends in .toml or .json, not {PurePath(name).name!r}")
    return suffix


def _where(exc: ValidationError, data: dict[str, Any]) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = list(err.get("loc", ()))
        if len(loc) >= 2 and loc[0] == "situations" and isinstance(loc[1], int):
            situations = data.get("situations") or []
            entry = situations[loc[1]] if loc[1] < len(situations) else None
            name = entry.get("id") if isinstance(entry, dict) else None
            loc[:2] = [f"situation {name!r}" if name else f"situation #{loc[1] + 1}"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        where = ".".join(str(p) for p in loc)
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


# --------------------------------------------------------------------------- a situation as a store
