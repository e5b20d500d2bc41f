"""Tasks on a clock (#26 item 4): what HEARTBEAT.md asks for at set times, with the timing left to the clock.

A `## Tasks` section lists them, one a line, as `<when>: <what>`:

    - daily 08:00: post a "Daily summary" of yesterday's messages
    - fridays 16:00: post a "Week in review"
    - weekdays 09:30: post the day's open questions
    - every 4h: post a short status of the open questions

Why a clock and not the model: asked "is the daily summary due?" every heartbeat, a small model answers
yes at 14:00 and again at 14:30, or never. The scheduler makes a task due at its time — in the thread's time
zone, moved into its active hours — and the model is asked only to write it, or to say there is nothing to
write (recorded as such). Each task keeps its own slot across restarts (store/tasks.py); a task is known by
its line's words, so an edited line is a new task whose first time is its next one, never at once.

`<when>` is `daily HH:MM` (or `every day HH:MM`), a weekday in the plural or after `every` (`fridays
16:00`, `every monday 9:00`), `weekdays HH:MM`, `weekends HH:MM`, or `every N` minutes or hours (`every 4h`,
`every 90 min`; 15 minutes to 7 days). An `at` before the time is allowed. An interval that divides a day
runs at fixed times from local midnight (4 h: 00:00, 04:00 …); others follow the last slot. A line that is
none of these is a warning (`check` and the editor say which line and why), never a guess.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # HEARTBEAT.md's parser reads tasks without pydantic (the tray's launch path, #23)
    from .config import HeartbeatConfig

DAY_S = 86400
MIN_EVERY_S = 15 * 60
MAX_EVERY_S = 7 * DAY_S
TASKS_MAX = 40  # a thread's tasks: each is a run of the model at its time; more is a mistake, not a plan
WHAT_MAX = 1000  # what a task asks for, as a post's content is bounded: it goes into the task's prompt
_CATCH_UP_STEPS = 10_000  # slots walked to find the latest passed one (every 15 min for 100 days)

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_SETS = {"daily": tuple(range(7)), "day": tuple(range(7)), "weekdays": (0, 1, 2, 3, 4), "weekends": (5, 6)}
_TIME = r"(?:at\s+)?(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})"  # ASCII digits: "０８:００" is not read as 08:00
_ON_DAYS = re.compile(rf"^(?:every\s+|on\s+)?(?P<days>[a-z]+?)\s+{_TIME}$")
_EVERY = re.compile(r"^every\s+(?P<n>[0-9]+)\s*(?P<unit>h|hr|hrs|hours?|m|min|mins|minutes?)$")


class TaskError(ValueError):
    """A task line that cannot be read; the message says which part and how to write it."""


@dataclass(frozen=True)
class Task:
    """One task: its line as written, when it runs and what it asks."""

    line: str
    when: str
    what: str
    days: tuple[int, ...] = ()  # weekdays (0 = Monday) of a timed task
    at_minute: int | None = None  # minutes after local midnight of a timed task
    every_s: int | None = None  # an interval task's period

    @property
    def key(self) -> str:
        """What the stored slot is kept under: the line's words (case and spacing aside)."""
        return hashlib.sha256(" ".join(self.line.casefold().split()).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return {"when": self.when, "what": self.what, "key": self.key}


def parse_task(line: str) -> Task:
    """One task line (bullet already removed). Raises TaskError."""
    when, sep, what = line.strip().partition(":")
    # "daily 08:00: …": a first colon right after digits is the time's; the task's own is the one after it.
    timed_first = re.match(r"^(?P<when>[^:]*?[0-9]{1,2}:[0-9]{2})\s*:\s*(?P<what>.*)$", line.strip())
    if re.search(r"[0-9]$", when) and timed_first is not None:
        when, what = timed_first.group("when"), timed_first.group("what")
    elif not sep:
        raise TaskError(f"“{line}”: write it as <when>: <what>, e.g. “daily 08:00: post a summary”")
    when_flat = " ".join(when.lower().split())
    what = what.strip()
    if not what:
        raise TaskError(f"“{line}”: nothing after the colon says what to do")
    if len(what) > WHAT_MAX:
        raise TaskError(f"“{_quoted(line)}”: what to do is {len(what):,} characters; a task says it in {WHAT_MAX}")
    every = _EVERY.match(when_flat)
    if every is not None:
        n = int(every.group("n"))
        seconds = n * (3600 if every.group("unit").startswith("h") else 60)
        if not MIN_EVERY_S <= seconds <= MAX_EVERY_S:
            raise TaskError(f"“{when.strip()}”: an interval must be 15 minutes to 7 days")
        return Task(line.strip(), when_flat, what, every_s=seconds)
    timed = _ON_DAYS.match(when_flat)
    if timed is None:
        raise TaskError(
            f"“{_quoted(line)}”: not a time this app reads — write <when>: <what>, with daily HH:MM, fridays "
            "HH:MM, weekdays HH:MM, weekends HH:MM, every 4h or every 30 min as <when>"
        )
    days = _days(timed.group("days"), when)
    hour, minute = int(timed.group("h")), int(timed.group("m"))
    if hour > 23 or minute > 59:
        raise TaskError(f"“{when.strip()}”: {hour:02d}:{minute:02d} is not a time of day")
    return Task(line.strip(), when_flat, what, days=days, at_minute=hour * 60 + minute)


def _quoted(line: str) -> str:
    flat = " ".join(line.split())
    return flat if len(flat) <= 80 else flat[:79] + "…"


def _days(word: str, when: str) -> tuple[int, ...]:
    if word in _DAY_SETS:
        return _DAY_SETS[word]
    singular = word[:-1] if word.endswith("s") else word
    if singular in _WEEKDAYS:
        return (_WEEKDAYS.index(singular),)
    raise TaskError(f"“{when.strip()}”: “{word}” is not daily, weekdays, weekends or a day of the week")


def parse_tasks(lines: list[str]) -> tuple[list[Task], list[str]]:
    """The tasks of a `## Tasks` section and a warning for each line that is not one. The same line twice is
    one task (they would share a slot)."""
    tasks: dict[str, Task] = {}
    meaning: dict[tuple[object, ...], Task] = {}  # what a task does when, however it is written
    warnings: list[str] = []
    for line in lines:
        try:
            task = parse_task(line)
        except TaskError as exc:
            warnings.append(f"task {exc}")
            continue
        same = (task.days, task.at_minute, task.every_s, " ".join(task.what.casefold().split()))
        if task.key not in tasks and same in meaning:  # "daily 8:00" beside "daily 08:00": it would run twice
            warnings.append(f"task “{_quoted(line)}” left out: it is “{_quoted(meaning[same].line)}” again")
            continue
        if task.key not in tasks and len(tasks) == TASKS_MAX:
            warnings.append(f"task “{_quoted(line)}” and any after it left out: a thread runs at most {TASKS_MAX}")
            break
        tasks.setdefault(task.key, task)
        meaning.setdefault(same, task)
    return list(tasks.values()), warnings


def next_time(task: Task, config: HeartbeatConfig, after: float) -> float:
    """The task's first slot strictly after `after`, in the thread's zone and inside its active hours."""
    from .schedule import into_active_hours, zone_of

    zone = zone_of(config)
    local = datetime.fromtimestamp(after, zone)
    if task.every_s is not None:
        if DAY_S % task.every_s == 0:  # fixed times from local midnight
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            done = int((local - midnight).total_seconds() // task.every_s) + 1
            candidate = (midnight + timedelta(seconds=done * task.every_s)).timestamp()
        else:
            candidate = after + task.every_s
        return into_active_hours(config, candidate)
    assert task.at_minute is not None
    day = local.date()
    for offset in range(8 + 1):
        date = day + timedelta(days=offset)
        if date.weekday() not in task.days:
            continue
        at = datetime(date.year, date.month, date.day, task.at_minute // 60, task.at_minute % 60, tzinfo=zone)
        if at.timestamp() > after:
            return into_active_hours(config, at.timestamp())
    raise AssertionError("a weekly task has a slot within eight days")


@dataclass(frozen=True)
class Due:
    """When a task runs next, and which slot that run serves (a missed slot runs once, at `at`)."""

    task: Task
    at: float
    slot: float


def due(task: Task, config: HeartbeatConfig, *, last_slot: float, now: float) -> Due:
    """The task's next run after the slot it last served (or the moment it was first seen). Slots that
    passed while the app was closed or the machine slept give one run now, serving the latest of them."""
    slot = next_time(task, config, last_slot)
    if slot > now:
        return Due(task, slot, slot)
    for _ in range(_CATCH_UP_STEPS):
        following = next_time(task, config, slot)
        if following > now:
            break
        slot = following
    from .schedule import into_active_hours

    # Once now, unless now is outside the thread's active hours: a daily summary missed overnight is not
    # posted (and notified) at 3 a.m. when the laptop wakes, but when the thread's day starts.
    return Due(task, into_active_hours(config, now), slot)


def earliest(tasks: list[Task], config: HeartbeatConfig, anchors: dict[str, float], now: float) -> Due | None:
    """The thread's next task run: the earliest due of its tasks, each from its own anchor (store/tasks.py;
    a task without one is new and runs at its next time after `now`)."""
    dues = [due(t, config, last_slot=anchors.get(t.key, now), now=now) for t in tasks]
    return min(dues, key=lambda d: d.at, default=None)


def next_label(task: Task, config: HeartbeatConfig, now: float) -> str:
    """The task's next time for a person, in the thread's zone: "Fri 11 Dec 16:00"."""
    from .schedule import zone_of

    return datetime.fromtimestamp(next_time(task, config, now), zone_of(config)).strftime("%a %d %b %H:%M")


def outside_active_hours(task: Task, config: HeartbeatConfig) -> str | None:
    """Why the task does not run at the time it names, or None when it does: a time outside the thread's active
    hours runs when they start (`next_time`), which nothing said — "daily 06:00 is outside active hours
    08:00–22:00: it runs at 08:00". `check` and the editor's live view show it beside the task."""
    from .schedule import hour_active

    start, end = config.active_hours_start, config.active_hours_end
    if start is None or end is None or start == end:
        return None
    window = f"active hours {start:02d}:00–{end:02d}:00"
    if task.at_minute is not None:
        if hour_active(config, task.at_minute // 60):
            return None
        day = "" if start * 60 > task.at_minute else " the next day"  # 23:30 with 08–22: tomorrow's 08:00
        return f"{task.when} is outside {window}: it runs at {start:02d}:00{day}"
    assert task.every_s is not None
    if DAY_S % task.every_s:  # slots follow the last one: some fall outside, when is not fixed
        return f"{task.when}: a time outside {window} runs at {start:02d}:00 instead"
    outside = [
        f"{at // 3600:02d}:{at % 3600 // 60:02d}"
        for at in range(0, DAY_S, task.every_s)
        if not hour_active(config, at // 3600)
    ]
    if not outside:
        return None
    shown = ", ".join(outside[:4]) + (f" and {len(outside) - 4} more" if len(outside) > 4 else "")
    verb, runs = ("is", "it runs") if len(outside) == 1 else ("are", "they run")
    return f"{task.when}: {shown} {verb} outside {window}: {runs} at {start:02d}:00"
