"""The heartbeat scheduler: a QObject worker on its own QThread, sleeping until the next heartbeat is due.

No polling. The worker keeps one due time per thread (from `core.schedule.next_due`) and arms ONE
single-shot wake timer for the earliest; it re-plans when a run ends, on config/thread changes,
pause/resume, and when the wall clock jumps (suspend/resume, clock set). Between due times the process
does not wake up at all.

Runs themselves execute on short-lived daemon threads, each with its own SQLite connection and LLM
client, so the worker's event loop stays free (a hung model never blocks re-planning or `stop()`), and
`stop()` can return at once while an LLM call hangs: the run is cancelled at its next chunk or times out,
and if the process exits first the store marks it `interrupted` at the next start.

Only one run per thread at a time: "run now" during a run is queued once (a second request while one is
queued is refused, not doubled). At most `max_parallel` runs are in flight across threads; the rest wait
their turn (a local Ollama serves requests one by one anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from ...core.models import Refusal, RunRecord, RunRefused, Trigger
from ...core.schedule import DAY_S, anchor, missed, next_due, planned_slot, served_slot
from ...core.scheduler_state import SchedulerState
from ...core.tasks import Task
from ...store import SqliteStore
from ...store.runs import ThreadState
from ...store.settings import PAUSED_SETTING
from .scheduler_jobs import Entry, Job, persist_dues, plan_tasks, prune_details, schedules, span
from .wake_timer import WakeTimer, make_wake_timer

if TYPE_CHECKING:  # built by the caller's factory on a run's thread, not imported at launch
    from ...core.runner import HeartbeatRunner

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


class SchedulerWorker(QObject):
    run_started = Signal(str, str)  # thread_id, trigger
    run_finished = Signal(object)  # RunRecord
    # thread_id, why: a run that left no record (its database could not be opened): only a signal can say so
    run_crashed = Signal(str, str)
    state_changed = Signal(object)  # SchedulerState
    snoozed = Signal(str, str, float)  # thread_id, title, until: a snooze taken, for the app to confirm
    # The answer to one run-now: token, then the RunRecord or None, then None or the RunRefused saying why not.
    request_done = Signal(str, object, object)
    _run_done = Signal(object, object)  # (Job, RunRecord | BaseException), from run threads

    def __init__(
        self,
        db_path: Path,
        make_runner: Callable[[SqliteStore], HeartbeatRunner],
        *,
        clock: Callable[[], float] | None = None,
        max_parallel: int = 2,
        start_paused: bool = False,
        default_workspace: Path | None = None,
    ) -> None:
        super().__init__()
        self._db_path = db_path
        self._default_workspace = default_workspace or db_path.parent
        self._make_runner = make_runner
        self._injected_clock = clock
        self._clock = clock or time.time
        self._max_parallel = max(1, max_parallel)
        self._start_paused = start_paused
        self._store: SqliteStore | None = None
        self._timer: WakeTimer | None = None
        self._entries: dict[str, Entry] = {}
        self._persisted: dict[str, tuple[float | None, float | None]] = {}
        self._paused = False
        self._started = False
        self._jobs_lock = threading.Lock()
        self._pruned_at = float("-inf")
        self._run_done.connect(self._on_run_done)

    # ------------------------------------------------------------------ lifecycle (worker thread)
    @Slot()
    def start_work(self) -> None:
        self._store = SqliteStore(self._db_path, clock=self._clock)  # recovers runs of a dead process
        self._timer = make_wake_timer(self._injected_clock, self)
        self._timer.fired.connect(self._plan)  # the earliest due time came: plan again
        self._timer.clock_changed.connect(self.clock_jumped)
        stored_pause = self._store.settings.get(PAUSED_SETTING) == "1"
        self._paused = self._start_paused or stored_pause
        self._started = True
        self._load(first=True)
        log.info("Scheduler started%s", " (paused)" if self._paused else "")
        self._plan()

    @Slot()
    def stop_work(self) -> None:
        with self._jobs_lock:
            for entry in self._entries.values():
                if entry.job is not None:
                    entry.job.abandoned = True
                    if entry.job.runner is not None:
                        entry.job.runner.cancel()
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._started = False
        log.info("Scheduler stopped")
        self.state_changed.emit(SchedulerState(False, self._paused))
        app = QCoreApplication.instance()
        if app is not None and self.thread() != app.thread():
            self.thread().quit()

    # ------------------------------------------------------------------ requests (worker thread)
    @Slot()
    def reload(self) -> None:
        """Threads or configs changed (settings dialog, CLI, API): re-read them and re-plan."""
        if self._started:
            self._load()
            self._plan()

    @Slot()
    def clock_jumped(self) -> None:
        """Wall clock jumped (resume, clock set): dues are wall times, so re-planning is all it takes.

        A due time that passed while asleep fires now as a catch-up — once per thread, because each
        thread has exactly one due time.
        """
        if self._started:
            log.info("Clock jump noticed; re-planning heartbeats")
            self._plan()

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if self._store is not None:
            self._store.settings.set(PAUSED_SETTING, "1" if paused else "0")
        log.info("Scheduler %s", "paused" if paused else "resumed")
        self.reload()

    @Slot(str, bool)
    def set_thread_paused(self, thread_id: str, paused: bool) -> None:
        if self._store is not None:
            self._store.threads.set_paused(thread_id, paused)
        self.reload()

    @Slot(str, float)
    def snooze_thread(self, thread_id: str, seconds: float) -> None:
        """No scheduled heartbeat of this thread for `seconds` (a notification's "Snooze 1 h"); never
        earlier than it would have run anyway. Kept across restarts like a busy deferral."""
        entry = self._entries.get(thread_id)
        if entry is None or self._store is None:
            return
        now = self._clock()
        last, failures = self._anchor(entry, self._store.runs.state(thread_id), now)
        normal = next_due(entry.config, now=now, last_run_at=last, consecutive_failures=failures)
        entry.defer_until = entry.snoozed_until = max(now + seconds, normal)
        if entry.job is None:
            entry.due = entry.defer_until
        log.info("Thread %s snoozed until %s", thread_id, time.strftime("%H:%M", time.localtime(entry.defer_until)))
        self._plan()
        self.snoozed.emit(thread_id, entry.title, entry.defer_until)

    @Slot(str)
    def unsnooze_thread(self, thread_id: str) -> None:
        """The snooze taken back (the tray's "Resume …"): its own plan again, as after a resume."""
        entry = self._entries.get(thread_id)
        if entry is None or entry.snoozed_until is None or self._store is None:
            return
        entry.snoozed_until = entry.defer_until = None
        if entry.job is None:
            self._replan(entry, self._store.runs.state(thread_id), self._clock())
        log.info("Thread %s: snooze taken back", thread_id)
        self._plan()

    @Slot(str, bool, str)
    def request_run(self, thread_id: str, dry_run: bool, token: str = "") -> None:
        entry = self._entries.get(thread_id)
        if entry is None and self._started:
            self._load()
            entry = self._entries.get(thread_id)
        if entry is None:
            log.warning("Run now: no thread %r", thread_id)
            if token:
                self.request_done.emit(token, None, RunRefused(Refusal.NO_THREAD, f"no thread {thread_id!r}"))
            return
        if entry.job is not None or self._in_flight() >= self._max_parallel:
            if entry.queued:
                log.info("Run now for thread %s refused: one is already queued", thread_id)
                if token:
                    refused = RunRefused(Refusal.BUSY, f"a run of thread {thread_id!r} is already queued")
                    self.request_done.emit(token, None, refused)
                return
            entry.queued.append((dry_run, token))
            log.info("Run now for thread %s queued behind the run in flight", thread_id)
            self._publish()
            return
        self._dispatch(entry, "manual", dry_run, token)
        self._plan()

    @Slot(str)
    def withdraw(self, token: str) -> None:
        """The caller of run-now `token` left (its connection closed): a run still queued for it is dropped,
        one in flight is cancelled (recorded as cancelled). What a caller gave up on is not carried out."""
        for entry in self._entries.values():
            before = len(entry.queued)
            entry.queued[:] = [(dry, tok) for dry, tok in entry.queued if tok != token]
            if len(entry.queued) != before:
                log.info("Run now for thread %s withdrawn: its caller left", entry.thread_id)
                self._publish()
            job = entry.job
            if job is not None and job.token == token and job.runner is not None:
                log.info("Run now for thread %s cancelled: its caller left", entry.thread_id)
                job.runner.cancel()

    # ------------------------------------------------------------------ planning
    def _load(self, first: bool = False) -> None:
        assert self._store is not None
        now = self._clock()
        states = self._store.runs.all_states()
        seen = set()
        for thread in self._store.threads.list():
            seen.add(thread.id)
            config = thread.config
            for warning in thread.config_warnings:
                log.warning("Thread %s config: %s", thread.id, warning)
            entry = self._entries.get(thread.id)
            if entry is None:
                entry = self._entries[thread.id] = Entry(thread.id, thread.title, config, thread.paused)
                state = states.get(thread.id)
                if state is not None and state.defer_until and state.defer_until > (state.last_run_at or 0):
                    entry.defer_until = state.defer_until
                    if entry.defer_until > now + DAY_S:  # no deferral is that long: a clock that was ahead
                        log.warning("Thread %s: a deferral to a far future ignored (the clock was ahead?)", thread.id)
                        entry.defer_until = None
            else:
                entry.title, entry.config, entry.paused = thread.title, config, thread.paused
            entry.workspace = thread.workspace
            if entry.job is None:
                plan_tasks(self._store, entry, self._default_workspace, now)
                last, failures = self._replan(entry, states.get(thread.id), now)
                entry.catch_up = first and missed(config, now=now, last_run_at=last, consecutive_failures=failures)
        for gone in set(self._entries) - seen:
            entry = self._entries.pop(gone)
            # A removed thread's waiting callers are answered (they waited forever): a queued run-now is
            # refused now; one in flight is answered when it ends (`_on_run_done`).
            for _dry_run, token in entry.queued:
                if token:
                    self.request_done.emit(token, None, RunRefused(Refusal.NO_THREAD, f"thread {gone!r} was removed"))
            entry.queued.clear()

    def _anchor(self, entry: Entry, state: ThreadState | None, now: float) -> tuple[float | None, int]:
        """The slot the next one follows (and the failure count): the stored last slot (a database from
        before slots were stored was given its last start), never behind a slot this worker already ran, and
        never in the future (`core.schedule.anchor`: a clock that was ahead must not freeze the thread)."""
        stored = state.last_slot_at if state is not None else None
        if entry.last_slot is not None and (stored is None or entry.last_slot > stored):
            stored = entry.last_slot
        last, ahead = anchor(stored, now=now)
        if ahead is not None:
            note = f"its last heartbeat was recorded {span(ahead)} in the future (the clock was ahead); counted as now"
            if entry.note != note:
                log.warning("Thread %s: %s", entry.thread_id, note)
            entry.note = note
        else:
            entry.note = None
        return last, state.consecutive_failures if state is not None else 0

    def _replan(self, entry: Entry, state: ThreadState | None, now: float) -> tuple[float | None, int]:
        """Set the entry's planned slot and due time from the store's state; return (anchor, failures)."""
        last, failures = self._anchor(entry, state, now)
        config = entry.config
        entry.slot = planned_slot(config, last_slot_at=last, consecutive_failures=failures)
        entry.due = next_due(
            config, now=now, last_run_at=last, consecutive_failures=failures, defer_until=entry.defer_until
        )
        unbacked = planned_slot(config, last_slot_at=last)
        entry.backing_off = (
            failures > 0 and entry.defer_until is None and unbacked is not None and entry.due > max(unbacked, now)
        )
        return last, failures

    def _dispatch_task(self, entry: Entry) -> None:
        """Run the due task, its slot marked served first: a run the app does not live to finish is not run
        again (History shows it interrupted); never twice."""
        assert self._store is not None and entry.task_due is not None
        due = entry.task_due
        try:
            self._store.tasks.served(entry.thread_id, due.task.key, due.slot)
        except Exception as exc:
            log.warning("Could not record the slot of a task of %s: %s", entry.thread_id, exc)
        entry.task_due = None
        self._dispatch(entry, "task", False, slot_at=due.slot, task=due.task)

    def _schedulable(self, entry: Entry) -> bool:
        return not self._paused and entry.config.enabled and not entry.paused and entry.due is not None

    def _runs_tasks(self, entry: Entry) -> bool:
        return not self._paused and entry.config.enabled and not entry.paused

    def _in_flight(self) -> int:
        return sum(1 for e in self._entries.values() if e.job is not None)

    def _plan(self) -> None:
        """Start every run that is due (capacity allowing), then arm the timer for the next one — or for a
        deferral's end, to publish that its reason no longer holds (core.scheduler_state.current_reason)."""
        if not self._started or self._timer is None:
            return
        now = self._clock()
        for entry in sorted(self._entries.values(), key=lambda e: e.due or 0):
            if self._in_flight() >= self._max_parallel:
                break
            task = entry.task_due
            if entry.job is None and self._runs_tasks(entry) and task is not None and task.at <= now:
                self._dispatch_task(entry)  # its time is the clock's; the heartbeat waits behind it
                continue
            if entry.job is None and self._schedulable(entry) and entry.due is not None and entry.due <= now:
                slot, passed_over = served_slot(entry.config, planned=entry.slot, due=entry.due, now=now)
                # a deferral passes slots over on purpose (the user was away); the run is then just late
                catch_up = entry.catch_up or (passed_over and entry.defer_until is None)
                self._dispatch(entry, "catch-up" if catch_up else "schedule", False, slot_at=slot)
        waiting = [
            e.due
            for e in self._entries.values()
            if e.job is None
            and self._schedulable(e)
            and e.due is not None
            # while every slot is busy, overdue threads wait for a run to end, not for the timer
            and (e.due > now or self._in_flight() < self._max_parallel)
        ]
        waiting += [
            e.task_due.at
            for e in self._entries.values()
            if e.job is None
            and e.task_due is not None
            and self._runs_tasks(e)
            and (e.task_due.at > now or self._in_flight() < self._max_parallel)
        ]
        waiting += [d for e in self._entries.values() if (d := e.defer_until) is not None and d > now]  # note ends
        if waiting:
            self._timer.arm_at(min(waiting))
        else:
            self._timer.disarm()
        self._persist_dues()
        self._publish()

    def _persist_dues(self) -> None:
        if self._store is not None:
            persist_dues(self._store, self._entries.values(), self._persisted, self._schedulable)

    # ------------------------------------------------------------------ runs
    def _dispatch(
        self,
        entry: Entry,
        trigger: Trigger,
        dry_run: bool,
        token: str = "",
        *,
        slot_at: float | None = None,
        task: Task | None = None,
    ) -> None:
        job = Job(entry.thread_id, trigger, dry_run, token, slot_at, task)
        entry.job = job
        entry.catch_up = False
        self.run_started.emit(entry.thread_id, trigger)
        threading.Thread(target=self._execute, args=(job,), name=f"heartbeat-{entry.thread_id}", daemon=True).start()

    def _execute(self, job: Job) -> None:
        """Runs on a daemon thread: own connection, own LLM client; the result goes back by signal."""
        store: SqliteStore | None = None
        result: RunRecord | BaseException
        try:
            store = SqliteStore(self._db_path, clock=self._clock, recover=False)
            job.runner = self._make_runner(store)
            result = job.runner.run(
                job.thread_id,
                trigger=job.trigger,
                dry_run=True if job.dry_run else None,
                slot_at=job.slot_at,
                task=job.task,
            )
        except BaseException as exc:
            log.exception("Heartbeat run for %s crashed outside the runner", job.thread_id)
            result = exc
        finally:
            if store is not None:
                store.close()
        with self._jobs_lock:
            if job.abandoned:
                return
            self._run_done.emit(job, result)

    @Slot(object, object)
    def _on_run_done(self, job: Job, result: RunRecord | BaseException) -> None:
        entry = self._entries.get(job.thread_id)
        if entry is None or entry.job is not job or self._store is None:
            if entry is None and job.token:  # its thread was removed meanwhile: the caller still hears the end
                self._answer(job, result)
            return
        entry.job = None
        if isinstance(result, RunRecord) and result.paused_thread:
            self._load()  # the run paused its thread (the same refused answer again and again)
        now = self._clock()
        deferred = isinstance(result, RunRecord) and result.defer_until is not None
        heartbeat = job.trigger in ("schedule", "catch-up")  # a task's slot is its own (store/tasks.py)
        if heartbeat and job.slot_at is not None and not deferred and (entry.last_slot or 0) < job.slot_at:
            entry.last_slot = job.slot_at  # served, even if the store could not record it: never run it twice
        if heartbeat:  # a manual run (a dry one too) and a task's leave the plan as it was
            entry.defer_until = result.defer_until if isinstance(result, RunRecord) else None
            entry.snoozed_until = None  # the snooze is over: its heartbeat ran
        plan_tasks(self._store, entry, self._default_workspace, now)
        self._replan(entry, self._store.runs.state(job.thread_id), now)
        # a freed slot lets a queued run-now go, this thread's first
        for other in sorted(self._entries.values(), key=lambda e: e is not entry):
            if other.job is None and other.queued and self._in_flight() < self._max_parallel:
                self._dispatch(other, "manual", *other.queued.pop())
        self._plan()
        self._prune(now)
        # Announce the run only after the new plan is published: listeners see a consistent state.
        if isinstance(result, RunRecord):
            self.run_finished.emit(result)
        elif not job.token:  # a run-now's caller hears it in its answer
            self.run_crashed.emit(job.thread_id, str(result))
        if job.token:
            self._answer(job, result)

    def _answer(self, job: Job, result: RunRecord | BaseException) -> None:
        if isinstance(result, RunRecord):
            self.request_done.emit(job.token, result, None)
        else:
            self.request_done.emit(job.token, None, RunRefused(Refusal.CRASHED, f"the run crashed: {result}"))

    def _prune(self, now: float) -> None:
        """The retention of run details (`keep_run_details_days`, scheduler_jobs.prune_details): hourly at most."""
        if self._store is None or now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        prune_details(self._store, now)

    def _publish(self) -> None:
        states = self._store.runs.all_states() if self._store is not None else {}
        threads = schedules(self._entries.values(), states, self._schedulable, self._clock())
        self.state_changed.emit(SchedulerState(self._started, self._paused, threads))
