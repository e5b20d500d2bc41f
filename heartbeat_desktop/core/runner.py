"""One heartbeat of one thread, end to end (docs/architecture.md, "Decisions").

The runner only orchestrates: the store and the LLM client are passed in, the clock too, so the same
code runs under the scheduler, the CLI, the editor's dry-run preview and the tests. Every outcome —
skipped, ok, failed — ends as a run record with a reason; no exception escapes `run()` except a usage
error (an unknown thread), because the callers (a timer, a button) have no one to hand it to.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import decide, heartbeat_md
from .actions import Decision, InvalidDecision, Refused, decision_source, decision_to_dict, parse_decision
from .app_settings import DEFAULT_CONTEXT_TOKENS, DEFAULT_MODEL, DEFAULT_TIMEOUT_S
from .config import HeartbeatConfig
from .context import COMMENT_LIMIT, MESSAGE_LIMIT, NOTE_LIMIT, POST_LIMIT, REJECTED_LIMIT
from .decision_schema import DecisionSchema
from .models import RunRecord, Thread, Trigger
from .ports import (
    DailyCap,
    DailyCapReached,
    HeartbeatStore,
    LLMClient,
    LLMError,
    LLMReply,
    LLMRequest,
    StoreError,
)
from .precheck import NOTHING_TO_LOOK_AT, SCHEDULED_TRIGGERS, Skip, precheck
from .precheck import fingerprint as run_fingerprint
from .presence import PresenceSource
from .prompt_plan import PromptPlan, Situation, clip_reply
from .refusals import QUIET_REFUSALS, RefusalKind, refused
from .rule_check import rule_problem
from .schedule import local_time, start_of_day
from .tasks import Task

log = logging.getLogger(__name__)


def _db_reason(exc: Exception) -> str:
    """The store's errors already say "database error: …" (or better); do not say it twice."""
    text = str(exc)
    return text if text.startswith(("database", "cannot open database")) else f"database error: {text}"


class UnknownThread(LookupError):
    """run() was asked for a thread that does not exist: a usage error, not a failed run."""


def _cut_off(reply: LLMReply, max_tokens: int, window: int) -> str:
    """Why a reply stopped early: max_tokens, or the context window filling up (raising max_tokens then
    makes it worse)."""
    if reply.completion_tokens is not None and reply.completion_tokens < max_tokens * 0.9:
        used = f"{reply.prompt_tokens} + {reply.completion_tokens} tokens" if reply.prompt_tokens else "the prompt"
        return (
            f"the reply was cut off after {reply.completion_tokens} tokens: {used} filled the model's context "
            f"window; lower context_tokens to the model's window (now {window}) so the prompt is built to fit"
        )
    return f"the reply was cut off at max_tokens={max_tokens}; raise max_tokens"


class HeartbeatRunner:
    def __init__(
        self,
        store: HeartbeatStore,
        llm: LLMClient,
        *,
        default_workspace: Path,
        default_model: str = DEFAULT_MODEL,
        llm_timeout_s: float = DEFAULT_TIMEOUT_S,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        presence: PresenceSource | None = None,
    ) -> None:
        self.store = store
        self.llm = llm
        self.default_workspace = default_workspace
        self.default_model = default_model
        self.llm_timeout_s = llm_timeout_s
        self.context_tokens = context_tokens
        self.clock = clock
        self.monotonic = monotonic
        self.presence = presence

    def run(
        self,
        thread_id: str,
        *,
        trigger: Trigger = "manual",
        dry_run: bool | None = None,
        heartbeat_md_text: str | None = None,
        record: bool = True,
        slot_at: float | None = None,
        task: Task | None = None,
    ) -> RunRecord:
        """Run one heartbeat. `dry_run=None` follows the thread's config; `heartbeat_md_text` replaces the
        file (the editor previews unsaved text); `record=False` writes nothing at all, not even the run;
        `slot_at` is the slot a scheduled run serves (the scheduler's; the record keeps how late it was);
        `task` makes it a task's run (trigger "task", core/tasks.py): the model is asked to write that task."""
        t0 = self.monotonic()
        thread = self.store.get_thread(thread_id)
        if thread is None:
            raise UnknownThread(f"no thread {thread_id!r}")
        config = thread.config
        for warning in thread.config_warnings:
            log.warning("Thread %s config: %s", thread_id, warning)
        dry = config.dry_run if dry_run is None else dry_run
        try:
            instructions, md_warnings = self._instructions(thread_id, thread.workspace, heartbeat_md_text)
            unreadable = None
        except heartbeat_md.Unreadable as exc:
            instructions, md_warnings, unreadable = heartbeat_md.parse(""), [], str(exc)

        run = RunRecord(
            id=str(uuid.uuid4()),
            thread_id=thread_id,
            trigger=trigger,
            dry_run=dry,
            started_at=self.clock(),
            slot_at=slot_at,
            model=config.model or self.default_model,
            warnings=[f"config: {w}" for w in thread.config_warnings] + [f"HEARTBEAT.md: {w}" for w in md_warnings],
        )
        if unreadable is not None:
            # Reported, never replaced: the template is written on the very first start only (a deleted file
            # once came back as the default template, and the agent acted on it).
            run.error_kind = "heartbeat_md"
            reason = f"HEARTBEAT.md: {unreadable} — {heartbeat_md.what_to_do(unreadable)}"
            return self._fail(run, t0, reason, record=record, inserted=False)
        log.info("Starting heartbeat for thread %s (%s%s)", thread_id, trigger, ", dry run" if dry else "")
        md_hash = instructions.sha256[:16]
        try:
            skip, repeated = self._precheck(run, thread, instructions, md_hash)
        except StoreError as exc:
            return self._fail(run, t0, _db_reason(exc), record=record, inserted=False)
        if skip is not None:
            return self._skipped(run, t0, skip, record=record and not repeated)
        if record:
            try:
                self.store.insert_run(run)
            except StoreError as exc:
                return self._fail(run, t0, _db_reason(exc), record=record, inserted=False)
        return self._asked(run, t0, thread, instructions, md_hash, record, task)

    def _precheck(
        self, run: RunRecord, thread: Thread, instructions: heartbeat_md.Instructions, md_hash: str
    ) -> tuple[Skip | None, bool]:
        """Whether to ask the model at all, and whether a skip only repeats the last one (the user is still
        away: History already says so). Raises StoreError."""
        # Only a scheduled run asks the desktop whether the user is there: a person pressing "Run now" is.
        scheduled = run.trigger in SCHEDULED_TRIGGERS
        presence = self.presence.read() if self.presence is not None and scheduled else None
        fingerprint = run_fingerprint(md_hash, self.store.thread_fingerprint(thread.id))
        skip = precheck(
            thread.config,
            instructions,
            trigger=run.trigger,
            now_ts=run.started_at,
            paused=thread.paused,
            fingerprint=fingerprint,
            last_success_fingerprint=self.store.last_success_fingerprint(thread.id),
            last_active_at=thread.last_active_at,
            presence=presence,
        )
        if skip is None and scheduled and self._nothing_to_look_at(thread.id):
            skip = Skip(NOTHING_TO_LOOK_AT)
        repeated = skip is not None and skip.away and self.store.last_run_outcome(thread.id) == ("skipped", skip.reason)
        return skip, repeated

    def _nothing_to_look_at(self, thread_id: str) -> bool:
        """The context would be empty (core/precheck.py, NOTHING_TO_LOOK_AT): three one-row reads, so a
        thread with nothing in it costs no model call and no context build."""
        return not (
            self.store.recent_messages(thread_id, 1)
            or self.store.open_notes(thread_id, 1)
            or self.store.recent_posts(1)
        )

    def _skipped(self, run: RunRecord, t0: float, skip: Skip, *, record: bool) -> RunRecord:
        run.status, run.reason, run.defer_until = "skipped", skip.reason, skip.defer_until
        self._stamp(run, t0)
        log.info("Heartbeat skipped for thread %s: %s", run.thread_id, skip.reason)
        if record:
            try:
                self.store.insert_run(run)
            except StoreError as exc:
                log.error("Could not record skipped run: %s", exc)
        return run

    def _asked(
        self,
        run: RunRecord,
        t0: float,
        thread: Thread,
        instructions: heartbeat_md.Instructions,
        md_hash: str,
        record: bool,
        task: Task | None = None,
    ) -> RunRecord:
        """The model's part and what follows; whatever goes wrong, the run ends recorded with its cause."""
        config = thread.config
        try:
            return self._decide_and_act(run, t0, thread.title, config, instructions, md_hash, record, task)
        except LLMError as exc:
            run.error_kind = exc.kind
            return self._fail(run, t0, str(exc), record=record)
        except InvalidDecision as exc:
            run.error_kind = exc.kind
            failed = self._fail(run, t0, str(exc), record=record)
            if record and not failed.dry_run:
                self._check_breaker(failed, config)
            return failed
        except StoreError as exc:
            if self._thread_gone(run.thread_id):
                # Removed while its heartbeat ran (the database then refused the write): say that, not the
                # constraint's words. Its runs go with it; the caller still gets this answer.
                return self._fail(run, t0, "the thread was removed while its heartbeat ran; nothing was written",
                                  record=False)  # fmt: skip
            return self._fail(run, t0, _db_reason(exc), record=record)
        except Exception as exc:  # the run must end recorded, whatever went wrong
            log.exception("Heartbeat for thread %s crashed", run.thread_id)
            return self._fail(run, t0, f"internal error: {type(exc).__name__}: {exc}", record=record)

    def _instructions(
        self, thread_id: str, workspace: Path | None, text: str | None
    ) -> tuple[heartbeat_md.Instructions, list[str]]:
        """The thread's HEARTBEAT.md parsed (or the editor's unsaved `text`), and what was wrong reading it."""
        if text is None:
            text, md_warnings = heartbeat_md.read_heartbeat_md(workspace or self.default_workspace, strict=True)
        else:
            md_warnings = []
        instructions = heartbeat_md.parse(text)
        instructions.warnings[:0] = md_warnings
        for warning in md_warnings:
            log.warning("Thread %s HEARTBEAT.md: %s", thread_id, warning)
        return instructions, md_warnings

    def cancel(self) -> None:
        """Stop the model call in flight (the scheduler's pause and quit): the run then ends failed, recorded."""
        self.llm.cancel()

    def _decide_and_act(
        self,
        run: RunRecord,
        t0: float,
        title: str,
        config: HeartbeatConfig,
        instructions: heartbeat_md.Instructions,
        md_hash: str,
        record: bool,
        task: Task | None = None,
    ) -> RunRecord:
        """Gather, ask, check, write: each step a function, so each can be read (and fail) on its own."""
        situation = self._gather(run, config)
        run.decision_mode = config.decision_mode
        plan = PromptPlan(run, title, config, instructions, situation, task)
        asked, schema, window = self._ask(run, config, plan)
        reply = asked.reply
        if reply.provider and run.inputs is not None:  # replay asks the provider that answered (core/replay.py)
            run.inputs["provider"] = reply.provider
        run.reasoning, run.reasoning_ms = asked.reasoning, asked.reasoning_ms
        run.raw_reply = clip_reply(reply.content)
        log.debug(
            "Raw reply for thread %s (%s, %s ms): %.2000s", run.thread_id, reply.done_reason, run.llm_ms, reply.content
        )
        run.prompt_tokens, run.completion_tokens = asked.prompt_tokens, asked.completion_tokens
        run.warnings.extend(reply.notices)
        try:
            text, notice = decision_source(reply.content, reply.thinking)
            if notice is not None:
                run.warnings.append(notice)
            decision = parse_decision(text)
        except InvalidDecision as exc:
            if reply.done_reason == "length":
                raise InvalidDecision(f"{exc} ({_cut_off(reply, config.max_tokens, window)})") from None
            raise
        run.decision = decision_to_dict(decision)
        problem = rule_problem(decision, config, situation, schema, self.store, run)
        if problem is not None:
            raise problem
        return self._write(run, t0, decision, config, situation.day_start, md_hash, record)

    def _gather(self, run: RunRecord, config: HeartbeatConfig) -> Situation:
        day_start = start_of_day(config, run.started_at)
        done_today = self.store.actions_since(run.thread_id, day_start)
        return Situation(
            messages=self.store.recent_messages(run.thread_id, MESSAGE_LIMIT),
            notes=self.store.open_notes(run.thread_id, NOTE_LIMIT),
            posts=self.store.recent_posts(POST_LIMIT, COMMENT_LIMIT),
            day_start=day_start,
            done_today=done_today,
            left={kind: max(0, config.daily_limit(kind) - done_today[kind]) for kind in done_today},
            now_local=local_time(config, run.started_at),
            rejected=self.store.rejected_actions(run.thread_id, REJECTED_LIMIT),
            seen=self.store.refs_seen_last(run.thread_id) if config.require_new_evidence else None,
        )

    def _ask(
        self, run: RunRecord, config: HeartbeatConfig, plan: PromptPlan
    ) -> tuple[decide.Asked, DecisionSchema, int]:
        """Ask with the prompt built for the window; a server that names a smaller window gets one more try
        with the prompt rebuilt to fit it. The whole exchange shares one timeout."""
        assert run.model is not None
        window = min(self.context_tokens, self.llm.context_window(run.model) or self.context_tokens)
        t_llm = self.monotonic()

        def ask(window: int) -> tuple[decide.Asked, DecisionSchema]:
            schema, system, user = plan.build(window)
            time_left = self.llm_timeout_s - (self.monotonic() - t_llm)
            if time_left <= 0:
                raise LLMError("timeout", f"no time left within {self.llm_timeout_s:g} s to ask again")
            request = LLMRequest(
                model=run.model or "",
                system=system,
                prompt=user,
                schema=schema,
                max_tokens=config.max_tokens,
                temperature=config.temperature,
                timeout_s=time_left,
                context_tokens=window,
            )
            return decide.ask(self.llm, request, config.decision_mode, self.monotonic), schema

        try:
            try:
                asked, schema = ask(window)
            except LLMError as exc:
                if exc.kind != "context_overflow" or not exc.limit or exc.limit >= window:
                    raise
                run.warnings.append(
                    f"{run.model} has a {exc.limit}-token context window (not {window}): the prompt was shortened"
                )
                window = exc.limit
                asked, schema = ask(window)
        finally:
            run.llm_ms = round((self.monotonic() - t_llm) * 1000, 2)
        return asked, schema, window

    def _write(
        self,
        run: RunRecord,
        t0: float,
        decision: Decision,
        config: HeartbeatConfig,
        day_start: float,
        md_hash: str,
        record: bool,
    ) -> RunRecord:
        action: dict[str, Any] | None = None if decision.action == "none" else decision_to_dict(decision)
        run.status = "ok"
        run.reason = decision.reason or ("HEARTBEAT_OK" if decision.action == "none" else decision.action)
        if run.dry_run and action is not None:
            run.action_result = {"dry_run": True, "would_write": action, "target": config.target}
            action = None
        self._stamp(run, t0)
        if record:
            # The caps are checked again where the action is written, in its transaction: between the
            # prompt and now another run of this thread may have acted.
            cap = DailyCap(config.daily_limit(decision.action), day_start) if action is not None else None
            try:
                result = self.store.finish_run(run, action, target=config.target, md_hash=md_hash, cap=cap)
            except DailyCapReached as exc:
                run.action_result = None
                raise Refused(RefusalKind.DAILY_CAP, str(exc)) from None
            if result is not None:
                run.action_result = result
        log.info(
            "Heartbeat completed for thread %s: %s%s",
            run.thread_id,
            decision.action,
            " (dry run, nothing written)" if run.dry_run else "",
        )
        return run

    def _thread_gone(self, thread_id: str) -> bool:
        try:
            return self.store.get_thread(thread_id) is None
        except StoreError:
            return False

    def _fail(self, run: RunRecord, t0: float, reason: str, *, record: bool, inserted: bool = True) -> RunRecord:
        run.status, run.reason = "failed", reason
        self._stamp(run, t0)
        # `answered`: the run's record says it to whoever asked (the CLI prints it): the console need not again.
        if refused(run.status, run.error_kind):  # the app's own rules at work: nothing to warn anyone about
            log.info("Heartbeat refused for thread %s: %s", run.thread_id, reason, extra={"answered": True})
        else:
            log.warning("Heartbeat failed for thread %s: %s", run.thread_id, reason, extra={"answered": True})
        if record:
            try:
                if inserted:
                    self.store.finish_run(run)
                else:
                    self.store.insert_run(run)
            except StoreError as exc:
                # Nothing else can be done here: the caller still gets the failure and shows it.
                log.error("Could not record failed run %s: %s", run.id, exc)
                run.warnings.append(f"not recorded: {exc}")
        return run

    def _check_breaker(self, run: RunRecord, config: HeartbeatConfig) -> None:
        """The same answer refused N runs in a row: the model is stuck, and asking again every interval
        only repeats it. Pause the thread (the app says so; resuming it is the user's call)."""
        repeats = config.pause_after_same_answer
        answer = (run.raw_reply or "").strip()
        if repeats <= 0 or not answer or run.error_kind in QUIET_REFUSALS:  # the app working as meant
            return
        try:
            recent = self.store.recent_answers(run.thread_id, repeats)
            if len(recent) == repeats and all(s == "failed" and (r or "").strip() == answer for s, r in recent):
                self.store.pause_thread(run.thread_id)
                run.paused_thread = True
                log.warning(
                    "Paused thread %s: the model gave the same refused answer %d times in a row", run.thread_id, repeats
                )
        except StoreError as exc:
            log.error("Could not check or pause thread %s: %s", run.thread_id, exc)

    def _stamp(self, run: RunRecord, t0: float) -> None:
        run.finished_at = self.clock()
        run.total_ms = round((self.monotonic() - t0) * 1000, 2)
