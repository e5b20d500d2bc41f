"""Decision quality: run a suite of situations through the real pipeline and score the decisions.

A valid decision is not yet a good one. Each situation is a small world — a HEARTBEAT.md, a thread's
messages and notes, feed posts, a time — and the decisions that are right in it. `evaluate` asks the
model about each one exactly as a heartbeat would (`HeartbeatRunner`: precheck, context, prompt, the
provider's client, validation, the thread's rules), against an in-memory store built from the
situation, with `record=False`: nothing is written anywhere. Then it counts:

- valid %: the decision passed validation and the thread's rules (a refused action is not valid);
- right action %: the action is one the situation accepts (an invalid reply counts as wrong);
- right target %: of the situations whose answer is a comment or vote on a given post, how many got that
  action on that post (and direction, where it matters);
- false action %: of the situations where the only right answer is to do nothing, how many the model
  acted in — refused actions included: the app stopped them, the model still chose them;
- p50 latency (the LLM part of each run; both calls in reason-first mode) and tokens (prompt + completion,
  summed over the suite).

Suites are plain data (TOML or JSON; the schema is `core.eval_suite.Suite` and docs/decision-quality.md), so a user
writes one for their own HEARTBEAT.md. The built-in one is `resources/eval-suite.toml`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .actions import post_key
from .citations import message_ref, note_ref, post_ref
from .config import HeartbeatConfig
from .decide import DECISION_MODES, GiveUp
from .eval_suite import (
    EVAL_THREAD,
    Expected,
    Situation,
    Suite,
    SuiteError,
    parse_suite,
    suite_format,
)
from .feedback import RejectedAction
from .models import FeedPost, Message, Note, RunRecord, Thread, Trigger
from .ports import DailyCap, LLMClient
from .runner import HeartbeatRunner
from .verdict import Verdict


class SituationStore:
    """The runner's store, answering from one situation and writing nothing (`record=False` never calls
    the write methods; they refuse, so a change that did would fail loudly here)."""

    def __init__(self, situation: Situation, config: HeartbeatConfig) -> None:
        self.situation = situation
        now = situation.now_ts
        self._thread = Thread(EVAL_THREAD, situation.title, None, config.to_json(), now - 86400, None, config=config)
        n = len(situation.messages)
        # Newest first, as the store answers; ids rise with time.
        self._messages = sorted(
            (
                Message(n - i, EVAL_THREAD, m.role, m.text, now - m.minutes_ago * 60)
                for i, m in enumerate(situation.messages)
            ),
            key=lambda m: m.created_at,
            reverse=True,
        )
        self._notes = [
            Note(i + 1, EVAL_THREAD, note.kind, note.text, False, now - 3600)
            for i, note in enumerate(reversed(situation.notes))
        ]
        self._posts = sorted((p.feed_post(now) for p in situation.posts), key=lambda p: p.created_at, reverse=True)
        # What the situation says its last heartbeat already saw (the "nothing new" rule); none marked: there
        # was no such heartbeat.
        notes = len(situation.notes)
        self._seen = (
            {message_ref(n - i) for i, m in enumerate(situation.messages) if m.seen}
            | {note_ref(notes - j) for j, note in enumerate(situation.notes) if note.seen}
            | {post_ref(p.id) for p in situation.posts if p.seen}
        )

    def get_thread(self, thread_id: str) -> Thread | None:
        return self._thread if thread_id == EVAL_THREAD else None

    def thread_fingerprint(self, thread_id: str) -> str:
        return f"situation:{self.situation.id}"

    def last_success_fingerprint(self, thread_id: str) -> str | None:
        return None

    def recent_messages(self, thread_id: str, limit: int) -> list[Message]:
        return self._messages[:limit]

    def open_notes(self, thread_id: str, limit: int) -> list[Note]:
        return self._notes[:limit]

    def recent_posts(self, limit: int, comments_each: int = 0) -> list[FeedPost]:
        """As the store answers: each post with its newest `comments_each` comments, oldest of them first."""
        newest = (lambda p: p.latest_comments[-comments_each:]) if comments_each > 0 else (lambda _p: ())
        return [replace(p, latest_comments=newest(p)) for p in self._posts[:limit]]

    def rejected_actions(self, thread_id: str, limit: int) -> list[RejectedAction]:
        now = self.situation.now_ts
        found = [
            RejectedAction(r.action, r.title, r.how, r.reason, now - r.minutes_ago * 60, r.post_id)
            for r in self.situation.rejected
        ]
        return sorted(found, key=lambda r: r.at, reverse=True)[:limit]

    def post_exists(self, post_id: int) -> bool:
        return any(p.id == post_id for p in self._posts)

    def refs_seen_last(self, thread_id: str) -> set[str] | None:
        return set(self._seen) or None

    def actions_since(self, thread_id: str, since: float) -> dict[str, int]:
        done = self.situation.done_today
        return {kind: done.get(kind, 0) for kind in ("post", "comment", "vote")}

    def same_post_since(self, title: str, content: str, since: float) -> tuple[int, str | None] | None:
        wanted = post_key(title, content)
        recent = (p for p in self._posts if p.created_at >= since)
        return next(((p.id, p.thread_id) for p in recent if post_key(p.title, p.content) == wanted), None)

    def recent_answers(self, thread_id: str, limit: int) -> list[tuple[str, str | None]]:
        return []

    def last_run_outcome(self, thread_id: str) -> tuple[str, str] | None:
        return None

    def pause_thread(self, thread_id: str) -> None:
        raise RuntimeError("an evaluation writes nothing")

    def insert_run(self, run: RunRecord) -> None:
        raise RuntimeError("an evaluation writes nothing")

    def finish_run(
        self,
        run: RunRecord,
        action: dict[str, Any] | None = None,
        target: str = "none",
        md_hash: str = "",
        cap: DailyCap | None = None,
    ) -> dict[str, Any] | None:
        raise RuntimeError("an evaluation writes nothing")


# --------------------------------------------------------------------------- running and scoring
@dataclass(frozen=True)
class SituationResult:
    situation: Situation
    verdict: Verdict
    llm_ms: float | None
    tokens: int
    run: RunRecord

    @property
    def right_action(self) -> bool:
        return any(e.action == self.verdict.action for e in self.situation.expect) and self.verdict.outcome == "valid"

    @property
    def right(self) -> bool:
        """The decision is one the situation accepts, target included."""
        return any(e.accepts(self.verdict) for e in self.situation.expect)

    @property
    def right_target(self) -> bool:
        """The decision is an accepted one that names a post: doing nothing where "none" was also fine
        is right, but it did not hit a target."""
        return any(e.post_id is not None and e.accepts(self.verdict) for e in self.situation.expect)

    @property
    def right_rule(self) -> bool:
        """An accepted action that cites the HEARTBEAT.md item the situation names."""
        return any(e.rule is not None and e.accepts(self.verdict) and self.verdict.rule == e.rule
                   for e in self.situation.expect)  # fmt: skip

    @property
    def wrong_but_valid(self) -> bool:
        """A valid decision the situation does not accept: the grammar held, the judgement did not."""
        return self.verdict.outcome == "valid" and not self.right

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.situation.id,
            "expected": [e.label() for e in self.situation.expect],
            "decision": self.verdict.label(),
            "outcome": self.verdict.outcome,
            "right": self.right,
            "rule": self.verdict.rule,
            "detail": self.verdict.detail,
            "llm_ms": self.llm_ms,
            "tokens": self.tokens,
            "reasoning": self.run.reasoning,
        }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class EvalSummary:
    model: str
    mode: str
    results: list[SituationResult] = field(default_factory=list)
    cancelled: bool = False

    @property
    def situations(self) -> int:
        return len(self.results)

    @property
    def errors(self) -> int:
        return sum(r.verdict.outcome == "error" for r in self.results)

    @property
    def valid_pct(self) -> float | None:
        return _pct(sum(r.verdict.outcome == "valid" for r in self.results), self.situations)

    @property
    def right_action_pct(self) -> float | None:
        return _pct(sum(r.right_action for r in self.results), self.situations)

    @property
    def right_target_pct(self) -> float | None:
        targeted = [r for r in self.results if r.situation.has_target]
        return _pct(sum(r.right_target for r in targeted), len(targeted))

    @property
    def right_rule_pct(self) -> float | None:
        named = [r for r in self.results if r.situation.names_rule]
        return _pct(sum(r.right_rule for r in named), len(named))

    @property
    def wrong_but_valid_pct(self) -> float | None:
        return _pct(sum(r.wrong_but_valid for r in self.results), self.situations)

    @property
    def feedback_right_pct(self) -> float | None:
        """Right among the situations where earlier feedback should change the decision."""
        shaped = [r for r in self.results if r.situation.has_feedback]
        return _pct(sum(r.right for r in shaped), len(shaped))

    @property
    def false_action_pct(self) -> float | None:
        quiet = [r for r in self.results if r.situation.calls_for_nothing]
        return _pct(sum(r.verdict.acted for r in quiet), len(quiet))

    @property
    def false_write_pct(self) -> float | None:
        """Of the situations that call for nothing, the share where something would have been written: the
        model's false actions less those the app refused (the nothing-new rule, the caps, a duplicate)."""
        quiet = [r for r in self.results if r.situation.calls_for_nothing]
        return _pct(sum(r.verdict.acted and r.verdict.outcome == "valid" for r in quiet), len(quiet))

    @property
    def p50_ms(self) -> float | None:
        answered = [r.llm_ms for r in self.results if r.llm_ms is not None and r.verdict.outcome != "error"]
        return round(statistics.median(answered), 1) if answered else None

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.results)

    def cells(self) -> tuple[str, ...]:
        """The row of the comparison table (the CLI and Settings → Compare models… print the same)."""

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{value:.0f} %"

        p50 = self.p50_ms
        return (
            self.model,
            self.mode + (" (cancelled)" if self.cancelled else ""),
            pct(self.valid_pct),
            pct(self.right_action_pct),
            pct(self.right_target_pct),
            pct(self.right_rule_pct),
            pct(self.wrong_but_valid_pct),
            pct(self.false_action_pct),
            pct(self.false_write_pct),
            pct(self.feedback_right_pct),
            "—" if p50 is None else f"{p50:.0f} ms" if p50 < 1000 else f"{p50 / 1000:.1f} s",
            f"{self.tokens:,}",
        )

    def first_error(self) -> str | None:
        return next((r.verdict.detail for r in self.results if r.verdict.outcome == "error"), None)

    def to_dict(self, details: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "mode": self.mode,
            "situations": self.situations,
            "valid_pct": self.valid_pct,
            "right_action_pct": self.right_action_pct,
            "right_target_pct": self.right_target_pct,
            "right_rule_pct": self.right_rule_pct,
            "wrong_but_valid_pct": self.wrong_but_valid_pct,
            "false_action_pct": self.false_action_pct,
            "false_write_pct": self.false_write_pct,
            "feedback_right_pct": self.feedback_right_pct,
            "p50_ms": self.p50_ms,
            "tokens": self.tokens,
            "errors": self.errors,
        }
        if self.cancelled:
            data["cancelled"] = True
        if details:
            data["results"] = [r.to_dict() for r in self.results]
        return data


TABLE_COLUMNS = (
    "model",
    "mode",
    "valid",
    "right action",
    "right target",
    "right rule",
    "wrong but valid",
    "false action",
    "false writes",
    "feedback right",
    "p50",
    "tokens",
)


@dataclass(frozen=True)
class EvalSettings:
    """The app's settings an evaluation runs under (the same a heartbeat would)."""

    llm_timeout_s: float
    context_tokens: int
    default_heartbeat_md: str | None = None  # the user's HEARTBEAT.md, for situations that bring none


Progress = Callable[[int, int, str], None]


def evaluate(
    suite: Suite,
    models: Sequence[str],
    modes: Sequence[str],
    llm: LLMClient,
    settings: EvalSettings,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[EvalSummary]:
    """Every situation for every (model, mode), in that order; `progress(done, total, what)` after each.
    When `cancelled()` turns true the summaries so far are returned, the last one marked cancelled."""
    for mode in modes:
        if mode not in DECISION_MODES:
            raise SuiteError(f"unknown mode {mode!r} (known: {', '.join(DECISION_MODES)})")
    if suite.needs_heartbeat_md() and settings.default_heartbeat_md is None:
        raise SuiteError("some situations bring no HEARTBEAT.md and the suite sets none")
    total = len(models) * len(modes) * len(suite.situations)
    done = 0
    summaries: list[EvalSummary] = []
    for model in models:
        for mode in modes:
            summary = EvalSummary(model, mode)
            summaries.append(summary)
            give_up = GiveUp()
            for situation in suite.situations:
                if cancelled():
                    summary.cancelled = True
                    return summaries
                if give_up.reason is not None:
                    result = _not_asked(situation, model, give_up.reason)
                else:
                    result = _one(situation, suite, model, mode, llm, settings, monotonic)
                    give_up.note(result.run.error_kind, result.verdict.detail)
                summary.results.append(result)
                done += 1
                if progress is not None:
                    verdict = "right" if result.right else "wrong"
                    progress(done, total, f"{model} · {mode} · {situation.id}: {result.verdict.label()} ({verdict})")
    return summaries


def _not_asked(situation: Situation, model: str, why: str) -> SituationResult:
    run = RunRecord(id="", thread_id=EVAL_THREAD, trigger="manual", dry_run=True, started_at=situation.now_ts)
    run.status, run.reason, run.model = "failed", f"not asked: {why}", model
    return SituationResult(situation, Verdict("error", detail=run.reason), None, 0, run)


def _one(
    situation: Situation,
    suite: Suite,
    model: str,
    mode: str,
    llm: LLMClient,
    settings: EvalSettings,
    monotonic: Callable[[], float],
) -> SituationResult:
    config = HeartbeatConfig().with_updates(
        **{"timezone": situation.timezone, **situation.config, "model": model, "decision_mode": mode}
    )
    store = SituationStore(situation, config)
    now = situation.now_ts
    runner = HeartbeatRunner(
        store,
        llm,
        default_workspace=Path(),  # never read: the HEARTBEAT.md text is passed in
        default_model=model,
        llm_timeout_s=settings.llm_timeout_s,
        context_tokens=settings.context_tokens,
        clock=lambda: now,
        monotonic=monotonic,
    )
    text = situation.heartbeat_md or suite.heartbeat_md or settings.default_heartbeat_md or ""
    task = situation.parsed_task
    trigger: Trigger = "task" if task is not None else "manual"
    run = runner.run(EVAL_THREAD, trigger=trigger, dry_run=True, heartbeat_md_text=text, record=False, task=task)
    tokens = (run.prompt_tokens or 0) + (run.completion_tokens or 0)
    if run.status == "skipped":  # the model was not asked (nothing actionable): not the model's fault
        return SituationResult(situation, Verdict("error", detail=f"not asked: {run.reason}"), None, 0, run)
    return SituationResult(situation, Verdict.of_run(run), run.llm_ms, tokens, run)


__all__ = [
    "EVAL_THREAD",
    "EvalSettings",
    "EvalSummary",
    "Expected",
    "Situation",
    "SituationResult",
    "SituationStore",
    "Suite",
    "SuiteError",
    "evaluate",
    "parse_suite",
    "suite_format",
]
