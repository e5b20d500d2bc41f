"""The app's own rules for a parsed decision, checked after the model answered.

The decision schema already keeps a constrained server from answering what these forbid; a server that
ignores the schema (or a reply the app parses itself) is why each is checked again. One function, one
answer: the first rule broken, as a typed refusal (`core/refusals.py`) or an invalid target.
"""

from __future__ import annotations

from . import refusals
from .actions import Decision, InvalidDecision, PostAction, Refused
from .citations import nothing_new, post_ref
from .config import HeartbeatConfig
from .decision_schema import DecisionSchema
from .models import RunRecord
from .ports import HeartbeatStore
from .prompt_plan import Situation
from .refusals import RefusalKind

DUPLICATE_WINDOW_S = 24 * 3600  # the same post again within a day is refused


def rule_problem(
    decision: Decision,
    config: HeartbeatConfig,
    situation: Situation,
    schema: DecisionSchema,
    store: HeartbeatStore,
    run: RunRecord,
) -> InvalidDecision | None:
    """The first of the app's own rules a parsed decision breaks (a typed refusal or an invalid target), or
    None. The schema already forbids most of these; a server that ignored it is why they are checked."""
    if decision.action == "none":
        return None
    if decision.action not in config.allowed_actions:
        return Refused(RefusalKind.NOT_ALLOWED, refusals.not_allowed(decision.action, config.allowed_actions))
    if situation.left[decision.action] <= 0:
        limit = config.daily_limit(decision.action)
        return Refused(
            RefusalKind.DAILY_CAP, refusals.daily_cap(decision.action, situation.done_today[decision.action], limit)
        )
    post_id = getattr(decision, "post_id", None)
    if post_id is not None and post_id not in schema.post_ids:
        # the model can only know the posts it was shown
        return InvalidDecision(f"invalid {decision.action} decision: post {post_id} was not among the posts shown")
    if post_id is not None and not store.post_exists(post_id):
        return InvalidDecision(f"invalid {decision.action} decision: post {post_id} does not exist")
    cited = citation_problem(decision, schema)
    if cited is not None:
        return cited
    # Before the repeat checks: a stuck model repeats itself, and its answer is first of all nothing new (a
    # quiet refusal, which never pauses the thread). A task's own time calls for it; a run shown no items at
    # all has nothing to cite (the precheck's "nothing new since the last successful run" covers an unchanged
    # empty thread).
    fresh = run.trigger == "task" or not config.require_new_evidence or not schema.refs
    # The thread's own posts are never new to it: citing its last post must not justify the next one.
    own = {post_ref(p.id) for p in situation.posts if p.thread_id == run.thread_id}
    if not fresh and nothing_new(decision.because, situation.seen, own):
        # The last heartbeat saw every item this cites and did not act on them: a weak model's commonest
        # false action is to act on the same quiet context a run later.
        return Refused(RefusalKind.NOTHING_NEW, refusals.nothing_new(decision.action, decision.because))
    title = decision.title if isinstance(decision, PostAction) else None
    rejected = next((r for r in situation.rejected if r.same_as(decision.action, title, post_id)), None)
    if rejected is not None:  # the user already said no to this answer: asking them again is the app's fault
        return Refused(
            RefusalKind.REJECTED_BEFORE, refusals.rejected_before(decision.action, rejected.how, rejected.reason)
        )
    if isinstance(decision, PostAction):
        same = store.same_post_since(decision.title, decision.content, run.started_at - DUPLICATE_WINDOW_S)
        if same is not None:  # a weak model repeats its last post every run
            return Refused(RefusalKind.DUPLICATE, refusals.duplicate(*same))
    return None


def citation_problem(decision: Decision, schema: DecisionSchema) -> InvalidDecision | None:
    """A cited rule or ref the run did not show (core/citations.py): the model can only know what it was
    shown. Shared with replay's verdict, so a replayed answer is judged as a live one."""
    if decision.action == "none":
        return None
    if schema.rules and decision.rule is None:  # asked for by the schema: a server that ignored it
        return InvalidDecision(
            f"invalid {decision.action} decision: it does not say which HEARTBEAT.md item it follows (rule)"
        )
    if schema.refs and not decision.because:
        return InvalidDecision(f"invalid {decision.action} decision: it cites no item of the context (because)")
    if decision.rule is not None and decision.rule not in schema.rules:
        shown = f"1–{max(schema.rules)}" if schema.rules else "none"
        return InvalidDecision(
            f"invalid {decision.action} decision: rule {decision.rule} is not among the items the prompt numbered "
            f"({shown})"
        )
    unknown = [ref for ref in decision.because if ref not in schema.refs]
    if unknown:
        return InvalidDecision(
            f"invalid {decision.action} decision: because cites {', '.join(unknown[:3])}, not among the items shown"
        )
    return None
