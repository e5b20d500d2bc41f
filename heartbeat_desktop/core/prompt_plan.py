"""The prompt of one run, sized to the model's context window (docs/architecture.md, "Decisions").

Everything the prompt holds must fit the window with the reply. HEARTBEAT.md and the rules are fixed; the
thread's context gets what they and `max_tokens` leave, estimated in characters (conservatively, so a
prompt never overflows a window it was built for). A server that names a smaller window than it was
asked for gets the prompt rebuilt for it: `PromptPlan.build` is called once per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import heartbeat_md
from .actions import InvalidDecision
from .citations import Item, numbered_items
from .config import HeartbeatConfig
from .context import DEFAULT_BUDGET_CHARS, Context, build_context
from .decision_schema import DecisionSchema
from .feedback import RejectedAction
from .models import FeedPost, Message, Note, RunRecord
from .prompt import CITE_NOTICE, COMMENTS_NOTICE, REJECTED_NOTICE, build_system, build_user
from .tasks import Task

CHARS_PER_TOKEN = 3.0  # conservative: English prompts measure 3.4-3.9 characters per token (SmolLM2, Llama 3)
TEMPLATE_TOKENS = 100  # chat template, role markers
MIN_CONTEXT_CHARS = 400  # below this a heartbeat sees too little of its thread to be worth asking
RAW_REPLY_MAX = 200_000  # what a run stores of a reply
PROMPT_STORE_MAX = 200_000  # a run stores its prompt; a window of a million tokens must not mean 3 MB a run


def clip_reply(text: str, limit: int = RAW_REPLY_MAX) -> str:
    """Keep what the model said (or was told) for History, but not a runaway megabyte per run."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n…[{len(text) - limit} more characters not stored]"


def replay_inputs(
    schema: DecisionSchema,
    posts_left: int,
    title: str,
    config: HeartbeatConfig,
    window: int,
    items: list[Item] | None = None,
) -> dict[str, Any]:
    """What core/replay.py needs besides the stored prompt to ask this run's question again; `items` (the
    numbered HEARTBEAT.md items, core/citations.py) also let History show a cited rule's words."""
    return {
        "actions": list(schema.actions),
        "post_ids": list(schema.post_ids),
        "withheld": [list(w) for w in schema.withheld],
        "rules": list(schema.rules),
        "refs": list(schema.refs),
        "items": [[i.number, i.kind, i.text] for i in items or ()],
        "posts_left": posts_left,
        "title": title,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "window": window,
    }


@dataclass
class Situation:
    """What a run knows of its thread before it asks: the context's sources and today's counts."""

    messages: list[Message]
    notes: list[Note]
    posts: list[FeedPost]
    day_start: float
    done_today: dict[str, int]
    left: dict[str, int]  # actions of each kind the caps still allow today
    now_local: datetime
    rejected: list[RejectedAction] = field(default_factory=list)  # the user's no to earlier actions (#26)
    seen: set[str] | None = None  # refs the thread's last answered heartbeat was shown (core/citations.py)

    @property
    def posts_left(self) -> int:
        return self.left["post"]


class PromptPlan:
    """Builds the prompt for a context window: everything it holds must fit the window with the reply, so
    the context gets what HEARTBEAT.md, the rules and max_tokens leave of it (estimated in characters,
    conservatively). Building records the prompt and the replay inputs on the run."""

    def __init__(
        self,
        run: RunRecord,
        title: str,
        config: HeartbeatConfig,
        instructions: heartbeat_md.Instructions,
        situation: Situation,
        task: Task | None = None,
    ) -> None:
        self.run, self.title, self.config, self.instructions, self.situation = (
            run,
            title,
            config,
            instructions,
            situation,
        )
        # A task's run (core/tasks.py) is asked to write that task: a post or nothing, citing nothing (the
        # task, not the context, calls for it).
        self.task = task

    def build(self, window: int) -> tuple[DecisionSchema, str, str]:
        """The schema, the system prompt and the user prompt for `window` tokens (InvalidDecision when even
        an empty context does not fit)."""
        run, config, sit, task = self.run, self.config, self.situation, self.task
        items = numbered_items(self.instructions) if task is None else []
        rules = [i.number for i in items]
        allowed = config.allowed_actions if task is None else tuple(a for a in config.allowed_actions if a == "post")
        ceiling = DecisionSchema.for_run(
            allowed,
            [p.id for p in sit.posts],
            sit.posts_left,
            sit.left,
            rules=rules,
            refs=["p1"] if rules else [],
            task=task is not None,
        )
        # The notices a non-empty context brings are counted as fixed: the context gets what is left after them.
        # Only those this run can show: on a 2048-token server every notice counted "in case" is context lost
        # (the comments notice, counted always, left a full feed no room at all).
        notices = len(CITE_NOTICE) + 2
        notices += len(REJECTED_NOTICE) + 2 if sit.rejected else 0
        notices += len(COMMENTS_NOTICE) + 2 if any(p.latest_comments for p in sit.posts) else 0
        fixed = (
            len(build_system(self.instructions, ceiling, sit.posts_left))
            + len(build_user(run.thread_id, self.title, Context(), sit.now_local, task))
            + notices
        )
        room = int((window - config.max_tokens - TEMPLATE_TOKENS) * CHARS_PER_TOKEN) - fixed
        if room < MIN_CONTEXT_CHARS:
            raise InvalidDecision(
                f"the prompt does not fit the model's context window: HEARTBEAT.md and the rules take about "
                f"{fixed // int(CHARS_PER_TOKEN)} tokens, max_tokens {config.max_tokens}, window {window} — "
                "shorten HEARTBEAT.md, lower max_tokens (heartbeat-desktop config set --thread THREAD max_tokens N), "
                "or, if the model allows, raise the window (heartbeat-desktop settings set context_tokens N)"
            )
        context = build_context(
            sit.messages,
            sit.notes,
            sit.posts,
            budget_chars=min(DEFAULT_BUDGET_CHARS, room),
            rejected=sit.rejected,
            seen=sit.seen if task is None else None,
        )
        # What this run may answer, and nothing else: the grammar a server builds from it cannot produce a
        # disallowed action, a post past the cap, or a post_id the model was not shown.
        schema = DecisionSchema.for_run(
            allowed,
            context.post_ids,
            sit.posts_left,
            sit.left,
            rules=rules,
            refs=context.refs if rules else [],
            task=task is not None,
        )
        system = build_system(self.instructions, schema, sit.posts_left)
        user = build_user(run.thread_id, self.title, context, sit.now_local, task)
        run.prompt = clip_reply(f"[system]\n{system}\n\n[user]\n{user}", PROMPT_STORE_MAX)
        run.inputs = replay_inputs(schema, sit.posts_left, self.title, config, window, items)
        if task is not None:
            run.inputs["task"] = task.to_dict()
        return schema, system, user
