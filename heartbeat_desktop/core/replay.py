"""Replay: ask recorded runs' questions again — another model, an edited HEARTBEAT.md, another mode —
and set each new decision beside the recorded one. Writes nothing.

What a run's question is: its stored prompt (the system message with HEARTBEAT.md and the rules, and
the user message with the context the run saw) and `inputs` (the actions and post ids it was offered,
its caps, max_tokens and temperature). With a new HEARTBEAT.md only the system message is rebuilt —
from the new text and the same offer — and the context stays the recorded one, so a change of decision
comes from the change the user made, not from the thread having moved on. Without one, the recorded
system message is sent unchanged: only the model (or mode) differs.

Runs recorded before `inputs` existed are replayed with the post ids found in their context and the
thread's allow-list, max_tokens and temperature as they are now (`fallback`). A run whose stored prompt was cut (a huge
window) or that the model never answered (skipped, the server down, no such model, a timeout, cancelled) is
not replayable and is listed as such: there is no decision to compare a new one with.

Each run is asked of the model it was made with, on the provider that answered it (recorded in `inputs`
since #27): a run made on a provider since removed is listed as not replayable, naming that provider,
rather than sent to the app's Ollama under the provider's prefix. A server that stops answering is given
up on for its own runs only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import decide, refusals
from .actions import InvalidDecision, decision_source, decision_to_dict, parse_decision
from .config import HeartbeatConfig
from .decision_schema import DecisionSchema
from .heartbeat_md import parse
from .models import RunRecord
from .ports import LLMClient, LLMError, LLMRequest
from .present import iso
from .prompt import build_system
from .providers import OLLAMA, split_model
from .refusals import RefusalKind
from .rule_check import citation_problem
from .verdict import Verdict

_SPLIT = "\n\n[user]\n"
_CONTEXT = re.compile(r"<context>\n(.*)\n</context>", re.S)


class NotReplayable(ValueError):
    """This run cannot be asked again; the message says why."""


@dataclass(frozen=True)
class Question:
    system: str
    user: str
    schema: DecisionSchema
    posts_left: int
    max_tokens: int
    temperature: float
    window: int | None


def question_of(run: RunRecord, fallback: HeartbeatConfig | None = None) -> Question:
    """The question `run` asked its model; `fallback` (the thread's config now) stands in for what a run
    recorded before `inputs` existed did not store. Raises NotReplayable."""
    if run.status == "skipped":
        raise NotReplayable("skipped: the model was not asked")
    if Verdict.of_run(run).outcome == "error":
        raise NotReplayable(f"the model never answered it ({_clip(run.reason or 'no reply', 100)})")
    prompt = run.prompt or ""
    if "more characters not stored]" in prompt[-80:]:
        raise NotReplayable("its prompt was too long to be stored whole")
    if not prompt.startswith("[system]\n") or _SPLIT not in prompt:
        raise NotReplayable("the model was not asked (no prompt recorded)")
    system, user = prompt[len("[system]\n") :].split(_SPLIT, 1)
    inputs = run.inputs if isinstance(run.inputs, dict) else None
    if inputs is not None:
        try:
            schema = DecisionSchema(
                tuple(str(a) for a in inputs["actions"]),
                tuple(int(i) for i in inputs["post_ids"]),
                tuple((str(a), str(why)) for a, why in inputs.get("withheld", [])),
                tuple(int(n) for n in inputs.get("rules", [])),
                tuple(str(r) for r in inputs.get("refs", [])),
            )
            return Question(
                system,
                user,
                schema,
                int(inputs.get("posts_left", 1)),
                int(inputs["max_tokens"]),
                float(inputs["temperature"]),
                int(inputs["window"]) if inputs.get("window") else None,
            )
        except (KeyError, TypeError, ValueError):
            pass  # a damaged record: fall back as for a run that predates `inputs`
    config = fallback or HeartbeatConfig()
    schema = DecisionSchema.for_run(config.allowed_actions, _post_ids(user), posts_left=1)
    return Question(system, user, schema, 1, config.max_tokens, config.temperature, None)


def model_for(
    run: RunRecord, model: str | None, default_model: str, providers: Collection[str] | None
) -> tuple[str, str]:
    """(the model to ask, the provider behind it): `model` when one is given, else the run's own on the
    provider that answered it. `providers`: the names of the providers that exist now (None: unknown, the
    run's model is taken as it reads). Raises NotReplayable for a run whose provider was removed."""
    known = set(providers or ())
    if model:
        return model, split_model(model, known)[0]
    own = run.model or default_model
    recorded = run.inputs.get("provider") if isinstance(run.inputs, dict) else None
    if providers is None or not isinstance(recorded, str) or not recorded:
        return own, split_model(own, known)[0]
    if recorded != OLLAMA and recorded not in known:
        raise NotReplayable(
            f"it was made with {own} on provider {recorded!r}, which no longer exists (add it again: "
            f"heartbeat-desktop provider add {recorded}, or replay with --model)"
        )
    if split_model(own, known)[0] == recorded:
        return own, recorded
    # e.g. an Ollama tag `qwen3:4b`, and a provider `qwen3` added since: the prefix says which one is meant
    bare = own[len(recorded) + 1 :] if own.startswith(f"{recorded}:") else own
    return f"{recorded}:{bare}", recorded


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _post_ids(user: str) -> list[int]:
    match = _CONTEXT.search(user)
    if not match:
        return []
    try:
        posts = json.loads(match.group(1)).get("feed_posts", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    return [p["id"] for p in posts if isinstance(p, dict) and isinstance(p.get("id"), int)]


@dataclass(frozen=True)
class ReplayItem:
    run: RunRecord
    before: Verdict
    after: Verdict
    model: str
    mode: str
    llm_ms: float | None = None
    raw_reply: str | None = None
    reasoning: str | None = None

    @property
    def changed(self) -> bool:
        """A different decision. A question the server did not answer, then or now, is not a changed
        decision: there is no decision on that side to compare (now: counted apart, `ReplayResult.errors`)."""
        return "error" not in (self.before.outcome, self.after.outcome) and self.before.key() != self.after.key()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run.id,
            "thread_id": self.run.thread_id,
            "started_at": iso(self.run.started_at),
            "model": self.model,
            "mode": self.mode,
            "changed": self.changed,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "llm_ms": self.llm_ms,
        }


@dataclass
class ReplayResult:
    items: list[ReplayItem] = field(default_factory=list)
    not_replayable: list[tuple[RunRecord, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def changed(self) -> int:
        return sum(item.changed for item in self.items)

    @property
    def errors(self) -> int:
        return sum(item.after.outcome == "error" for item in self.items)

    def first_error(self) -> str | None:
        return next((i.after.detail for i in self.items if i.after.outcome == "error"), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "runs": len(self.items),
            "changed": self.changed,
            "errors": self.errors,
            "items": [item.to_dict() for item in self.items],
            "not_replayable": [{"run_id": run.id, "why": why} for run, why in self.not_replayable],
        }
        if self.cancelled:
            data["cancelled"] = True
        return data


def replay(
    runs: Sequence[RunRecord],
    llm: LLMClient,
    *,
    model: str | None = None,
    heartbeat_md_text: str | None = None,
    mode: str | None = None,
    timeout_s: float,
    default_model: str,
    fallback: Mapping[str, HeartbeatConfig] | None = None,
    providers: Collection[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    monotonic: Callable[[], float] = time.monotonic,
) -> ReplayResult:
    """Re-decide each run (newest first, as given). `model`/`mode` None: each run's own; `fallback`: each
    thread's config now, by thread id (for runs recorded before `inputs`); `providers`: the names of the
    providers that exist now (see `model_for`)."""
    result = ReplayResult()
    instructions = parse(heartbeat_md_text) if heartbeat_md_text is not None else None
    give_up: dict[str, decide.GiveUp] = {}  # per provider: one server down says nothing of another
    for index, run in enumerate(runs):
        if cancelled():
            result.cancelled = True
            break
        try:
            question = question_of(run, (fallback or {}).get(run.thread_id))
            use_model, provider = model_for(run, model, default_model, providers)
        except NotReplayable as exc:
            result.not_replayable.append((run, str(exc)))
            continue
        stop = give_up.setdefault(provider, decide.GiveUp())
        if stop.reason is not None:  # as eval does: asking that server again cannot help
            result.items.append(
                ReplayItem(run, Verdict.of_run(run), Verdict("error", detail=f"not asked: {stop.reason}"), "", "")
            )
            continue
        system = question.system
        if instructions is not None:
            system = build_system(instructions, question.schema, question.posts_left)
        request = LLMRequest(
            model=use_model,
            system=system,
            prompt=question.user,
            schema=question.schema,
            max_tokens=question.max_tokens,
            temperature=question.temperature,
            timeout_s=timeout_s,
            context_tokens=question.window,
        )
        result.items.append(_ask(llm, run, request, mode or run.decision_mode or "direct", question, stop, monotonic))
        if progress is not None:
            progress(index + 1, len(runs), f"run {run.id[:8]}")
    return result


def _ask(
    llm: LLMClient,
    run: RunRecord,
    request: LLMRequest,
    mode: str,
    question: Question,
    give_up: decide.GiveUp,
    monotonic: Callable[[], float],
) -> ReplayItem:
    """One run asked again, and its new verdict beside the recorded one."""
    started = monotonic()
    raw: str | None = None
    reasoning: str | None = None
    try:
        asked = decide.ask(llm, request, mode, monotonic)
        raw, reasoning = asked.reply.content, asked.reasoning
        after = judge(raw, question.schema, thinking=asked.reply.thinking)
        give_up.note(None, "")
    except LLMError as exc:
        after = Verdict("error", detail=str(exc))
        give_up.note(exc.kind, str(exc))
    elapsed = round((monotonic() - started) * 1000, 2)
    return ReplayItem(run, Verdict.of_run(run), after, request.model, mode, elapsed, raw, reasoning)


def judge(reply: str, schema: DecisionSchema, *, thinking: str | None = None) -> Verdict:
    """A reply as the runner would take it, short of the store: read from where the model put it,
    parsed, validated, held to what the run was offered (the actions left by its allow-list and caps,
    the posts it was shown)."""
    try:
        decision = parse_decision(decision_source(reply, thinking)[0])
    except InvalidDecision as exc:
        return Verdict("invalid", detail=str(exc))
    data = decision_to_dict(decision)
    if decision.action != "none" and not schema.offers(decision.action):
        why = dict(schema.withheld).get(decision.action, "not offered to this run")
        text = refusals.not_offered(decision.action, why)
        return Verdict.of_decision(data, "refused", text, refusal=RefusalKind.NOT_OFFERED)
    post_id = data.get("post_id")
    if post_id is not None and post_id not in schema.post_ids:
        return Verdict("invalid", detail=f"invalid {decision.action} decision: post {post_id} was not shown")
    # A run from before citations (#26) stored none to check against: its replies are judged without them.
    cited = citation_problem(decision, schema) if schema.rules or schema.refs else None
    if cited is not None:
        return Verdict("invalid", detail=str(cited))
    return Verdict.of_decision(data, "valid")
