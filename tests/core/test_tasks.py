"""Tasks on a clock (#26 item 4): the `## Tasks` lines, their times in a thread's zone and active hours, one
catch-up for slots that passed, their stored slots, and a task's run (the model writes it, or says there is
nothing to write). The scheduler's side is in tests/qt/test_scheduler.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core import heartbeat_md
from heartbeat_desktop.core.citations import numbered_items
from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.core.schedule import in_active_hours
from heartbeat_desktop.core.tasks import TaskError, due, earliest, next_time, parse_task, parse_tasks
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer, Reply

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args: int, zone: ZoneInfo = BERLIN) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


def local(ts: float, zone: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%a %Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("line", "when", "what", "days", "minute", "every"),
    [
        ('daily 08:00: post a "Daily summary" of yesterday', "daily 08:00", 'post a "Daily summary" of yesterday',
         tuple(range(7)), 480, None),
        ("Fridays 16:00: post a week in review", "fridays 16:00", "post a week in review", (4,), 960, None),
        ("every monday at 9:30: plan: the week", "every monday at 9:30", "plan: the week", (0,), 570, None),
        ("weekdays 07:05: open questions", "weekdays 07:05", "open questions", (0, 1, 2, 3, 4), 425, None),
        ("weekends 10:00: a walk", "weekends 10:00", "a walk", (5, 6), 600, None),
        ("every day at 21:45: a recap", "every day at 21:45", "a recap", tuple(range(7)), 1305, None),
        ("every 4h: status", "every 4h", "status", (), None, 4 * 3600),
        ("every 90 min: stretch", "every 90 min", "stretch", (), None, 5400),
    ],
)  # fmt: skip
def test_task_lines(line: str, when: str, what: str, days: tuple[int, ...], minute: int | None, every: int | None):
    task = parse_task(line)
    assert (task.when, task.what, task.days, task.at_minute, task.every_s) == (when, what, days, minute, every)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("every 10 min: too often", "15 minutes to 7 days"),
        ("daily 25:00: never", "25:00 is not a time of day"),
        ("sometimes: maybe", "not a time this app reads"),
        ("daily 08:00:", "nothing after the colon"),
        ("post a summary", "write it as <when>: <what>"),
        ("someday 08:00: x", "“someday” is not daily"),
        ("daily ０８:００: post a summary", "not a time this app reads"),  # full-width digits are not read as 08:00
        ("every ３ h: x", "not a time this app reads"),
    ],
)
def test_a_line_that_is_not_a_task_says_why(line: str, says: str) -> None:
    with pytest.raises(TaskError) as raised:
        parse_task(line)
    assert says in str(raised.value)
    tasks, warnings = parse_tasks([line])
    assert tasks == [] and len(warnings) == 1 and says in warnings[0]


def test_a_warning_quotes_the_whole_line_and_the_tasks_are_bounded() -> None:
    _, warnings = parse_tasks(
        ["daily 7:5: post it", "fridays 16:00 post without a colon", "daily 08:00: " + "x" * 1001]
    )
    assert "“daily 7:5: post it”: not a time" in warnings[0] and "every 30 min" in warnings[0]
    assert "“fridays 16:00 post without a colon”" in warnings[1] and "<when>: <what>" in warnings[1]
    assert "1,001 characters" in warnings[2]
    tasks, warnings = parse_tasks([f"every {15 + i} min: task {i}" for i in range(45)])
    assert len(tasks) == 40 and len(warnings) == 1 and "“every 55 min: task 40” and any after it" in warnings[0]


def test_the_same_task_written_two_ways_runs_once_and_is_said() -> None:
    tasks, warnings = parse_tasks(
        ["daily 8:00: post a summary", "daily 08:00: Post a  summary", "daily 09:00: post a summary"]
    )
    assert [t.at_minute for t in tasks] == [480, 540]
    assert warnings == ["task “daily 08:00: Post a summary” left out: it is “daily 8:00: post a summary” again"]
    same_line, warnings = parse_tasks(["daily 8:00: post a summary", "daily 8:00: post a summary"])
    assert len(same_line) == 1 and warnings == []  # the very same line: one task, as before


def test_the_tasks_section_is_read_apart_and_never_shown_to_a_heartbeat() -> None:
    text = (
        "## Checklist\n- [ ] Summarise open questions\n"
        "## Tasks\n- daily 08:00: post a summary\n- DAILY  08:00: post a summary\n- whenever: x\n"
        "## Rules\nIf a question is open → post a reminder.\n"
    )
    ins = heartbeat_md.parse(text)
    assert [t.when for t in ins.tasks] == ["daily 08:00"]  # the same line twice is one task
    assert any("whenever" in w for w in ins.warnings)
    assert "Tasks" not in ins.for_model and "post a summary" not in ins.for_model
    assert "If a question is open" in ins.for_model  # the section after it is still there
    assert [i.text for i in numbered_items(ins)] == [
        "Summarise open questions",
        "If a question is open → post a reminder.",
    ]
    only_tasks = heartbeat_md.parse("## Tasks\n- daily 08:00: post a summary\n")
    assert not only_tasks.is_actionable and not any("nothing actionable" in w for w in only_tasks.warnings)


def test_times_follow_the_threads_zone_across_daylight_saving() -> None:
    config = HeartbeatConfig(timezone="Europe/Berlin")
    daily = parse_task("daily 02:30: a note")
    # 29 March 2026: Berlin's clocks jump from 02:00 to 03:00; 02:30 does not exist that day
    before = at(2026, 3, 28, 12, 0)
    first = next_time(daily, config, before)
    second = next_time(daily, config, first)
    third = next_time(daily, config, second)
    assert local(first) == "Sun 2026-03-29 03:30" or local(first) == "Sun 2026-03-29 01:30"
    assert local(second) == "Mon 2026-03-30 02:30" and local(third) == "Tue 2026-03-31 02:30"
    weekly = parse_task("fridays 16:00: week in review")
    assert local(next_time(weekly, config, at(2026, 11, 27, 16, 0))) == "Fri 2026-12-04 16:00"  # strictly after
    assert local(next_time(weekly, config, at(2026, 11, 27, 15, 59))) == "Fri 2026-11-27 16:00"
    new_york = HeartbeatConfig(timezone="America/New_York")
    assert datetime.fromtimestamp(next_time(weekly, new_york, at(2026, 11, 27, 12, 0)), UTC).hour == 21


def test_active_hours_move_a_time_to_the_windows_start() -> None:
    config = HeartbeatConfig(timezone="Europe/Berlin", active_hours_start=9, active_hours_end=17)
    every = parse_task("every 4h: status")
    times, t = [], at(2026, 11, 27, 7, 0)
    for _ in range(4):
        t = next_time(every, config, t)
        times.append(local(t))
    assert times == ["Fri 2026-11-27 09:00", "Fri 2026-11-27 12:00", "Fri 2026-11-27 16:00", "Sat 2026-11-28 09:00"]
    early = parse_task("weekdays 07:00: early")
    assert local(next_time(early, config, at(2026, 11, 27, 6, 0))) == "Fri 2026-11-27 09:00"


def test_slots_missed_while_away_give_one_run_for_the_latest() -> None:
    config = HeartbeatConfig(timezone="Europe/Berlin")
    daily = parse_task("daily 08:00: summary")
    last = at(2026, 11, 20, 8, 0)
    now = at(2026, 11, 27, 12, 0)
    missed = due(daily, config, last_slot=last, now=now)
    assert missed.at == now and local(missed.slot) == "Fri 2026-11-27 08:00"
    after = due(daily, config, last_slot=missed.slot, now=now + 1)
    assert local(after.at) == "Sat 2026-11-28 08:00" and after.at == after.slot  # not twice
    # Missed overnight, caught up when the thread's day starts, not at 3 a.m. (the README-only attack)
    office = HeartbeatConfig(timezone="America/New_York", active_hours_start=9, active_hours_end=17)
    woke = due(daily, office, last_slot=at(2026, 11, 23, 14, 0), now=at(2026, 11, 25, 8, 0))  # 03:00 in NY
    assert datetime.fromtimestamp(woke.at, ZoneInfo("America/New_York")).strftime("%a %H:%M") == "Wed 09:00"
    weekly = parse_task("mondays 09:00: plan")
    first = earliest([daily, weekly], config, {daily.key: missed.slot}, now + 1)
    assert first is not None and first.task == daily  # Saturday 08:00 comes before Monday 09:00


@settings(max_examples=300, deadline=None)
@given(
    line=st.sampled_from(["daily 08:00: a", "fridays 16:30: b", "weekdays 00:00: c", "every 4h: d", "every 50 min: e"]),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    hours=st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23))),
    after=st.floats(min_value=at(2025, 1, 1), max_value=at(2030, 1, 1)),
)
def test_the_next_time_is_later_soon_and_inside_the_active_hours(
    line: str, zone: str, hours: tuple[int, int] | None, after: float
) -> None:
    start, end = hours or (None, None)
    config = HeartbeatConfig(timezone=zone, active_hours_start=start, active_hours_end=end)
    task = parse_task(line)
    nxt = next_time(task, config, after)
    assert after < nxt <= after + timedelta(days=9).total_seconds()
    assert in_active_hours(config, nxt)
    caught = due(task, config, last_slot=after - 10 * 86400, now=after)
    assert caught.slot <= after <= caught.at and in_active_hours(config, caught.at)  # a passed slot: run now
    assert caught.at == after or not in_active_hours(config, after)  # (or when the active hours begin)
    assert next_time(task, config, caught.slot) > after  # and the next one is still to come


def test_slots_are_kept_per_thread_and_task_and_never_move_back(store: SqliteStore) -> None:
    first = store.tasks.slots("default", ["a", "b"])
    assert set(first) == {"a", "b"}  # first seen: now
    store.tasks.served("default", "a", first["a"] + 3600)
    store.tasks.served("default", "a", first["a"] + 60)  # an older slot does not move it back
    assert store.tasks.slots("default", ["a", "b"])["a"] == first["a"] + 3600
    assert set(store.tasks.slots("default", ["a"])) == {"a"}  # "b" left the file: forgotten
    store.threads.create("other")
    store.threads.delete("other") if hasattr(store.threads, "delete") else None


def test_a_tasks_run_asks_to_write_that_task_and_nothing_else(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    message = store.threads.add_message("default", "We shipped the release today.")
    task = parse_task('daily 18:00: post a "Daily summary" of today')
    ollama.script(Reply(json.dumps({"action": "post", "title": "Daily summary", "content": "Shipped.", "reason": "t"})))
    run = runner.run("default", trigger="task", task=task, slot_at=1.0)
    assert run.status == "ok", run.reason
    assert run.trigger == "task" and run.inputs["task"] == task.to_dict()
    body = ollama.chat_requests()[-1].body
    user = body["messages"][1]["content"]
    assert "due now (daily 18:00): <task>post a \\u0022Daily summary\\u0022 of today</task>" in user or (
        'due now (daily 18:00): <task>post a "Daily summary" of today</task>' in user
    )
    assert f'"ref": "m{message}"' in user  # the context it writes from
    assert [b["properties"]["action"]["const"] for b in body["format"]["anyOf"]] == ["none", "post"]
    # Nothing to write is an answer, recorded as such; a task is not "nothing new" however quiet the thread.
    ollama.script(Reply('{"action": "none", "reason": "nothing happened today"}'))
    quiet = runner.run("default", trigger="task", task=task)
    assert quiet.status == "ok" and quiet.reason == "nothing happened today"
    ollama.script(Reply(json.dumps({"action": "post", "title": "Summary 2", "content": "Again.", "reason": "t"})))
    again = runner.run("default", trigger="task", task=task)
    assert again.status == "ok", again.reason  # cites nothing, yet not refused as nothing new


def test_a_tasks_run_leaves_the_threads_news_new_for_the_next_heartbeat(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    """Found living with #27: an `every 30 min` task ran just before the :30 heartbeat, and the heartbeat was
    skipped as "nothing new since the last successful run" — the task's run had taken the news as seen."""
    store.threads.set_config("default", HeartbeatConfig(busy_minutes=0))  # no wait after the user's message
    store.threads.add_note("default", "likes tea", "memory")  # something to look at (NOTHING_TO_LOOK_AT)
    ollama.default = Reply('{"action": "none", "reason": "quiet"}')
    assert runner.run("default", trigger="schedule").status == "ok"  # the heartbeat saw the thread as it was
    message = store.threads.add_message("default", "Please post a follow-up on the launch.")
    task = parse_task("every 30 min: post the build status if it changed")
    assert runner.run("default", trigger="task", task=task).status == "ok"
    assert store.refs_seen_last("default") is not None and f"m{message}" not in store.refs_seen_last("default")
    after = runner.run("default", trigger="schedule")
    assert after.status == "ok" and after.prompt is not None, after.reason  # asked, not skipped as nothing new
    assert f'"ref": "m{message}"' in after.prompt and f'"ref": "m{message}", "seen": true' not in after.prompt
