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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import heartbeat_md
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
from .models import RunRecord, Trigger
from .ports import LLMClient
from .precheck import NOTHING_TO_LOOK_AT
from .runner import HeartbeatRunner
from .situation_store import SituationStore
from .verdict import Verdict


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
    def asked(self) -> int:
        """Situations put to the model (or given up on): not those a heartbeat would not ask (nothing to look at)."""
        return sum(r.run.reason != NOTHING_TO_LOOK_AT for r in self.results)

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
    empty = not (situation.messages or situation.notes or situation.posts)
    if task is None and empty and heartbeat_md.parse(text).is_actionable:
        # What the app does on its own: a scheduled heartbeat with nothing to look at is not asked (the runner's
        # NOTHING_TO_LOOK_AT; the eval asks as a manual run, so says it here). Doing nothing is the app's answer,
        # and is scored as one: a valid `none` — right where nothing is expected, wrong where an action is —
        # never an error or a false action, with no time or tokens; its detail says the model was not asked.
        run = RunRecord(id="", thread_id=EVAL_THREAD, trigger="schedule", dry_run=True, started_at=situation.now_ts)
        run.status, run.reason, run.model = "skipped", NOTHING_TO_LOOK_AT, model
        return SituationResult(
            situation, Verdict("valid", action="none", detail=f"not asked: {run.reason}"), None, 0, run
        )
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
