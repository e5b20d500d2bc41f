"""Plain domain records passed between the store, the runner and the UIs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:  # imported when a thread is made: the tray's launch path needs no pydantic (issue #23)
    from .config import HeartbeatConfig

# The closed vocabularies of a record. Literal types, not enums: the values are what the database, the JSON
# and the command line carry, and mypy (strict_equality) rejects a comparison with a word outside the set —
# `run.status == "succeeded"` is a type error, not a branch that never runs. The tuples are for argparse
# choices and the API's checks, derived from the types so the two cannot drift.
Role = Literal["user", "assistant", "system"]
NoteKind = Literal["memory", "contradiction"]
RunStatus = Literal["started", "ok", "skipped", "failed", "interrupted"]
Trigger = Literal["schedule", "manual", "catch-up", "preview", "task"]

ROLES: tuple[str, ...] = get_args(Role)
# What anyone may add to a thread, from the CLI or the API: "system" is the app's own voice, and a script's
# message in it would read to the model as an instruction from the app.
ADDED_ROLES: tuple[str, ...] = ("user", "assistant")
TEXT_MAX = 100_000
"""The longest message or note, in characters (a prompt carries far less; 2 MB were once stored)."""
NOTE_KINDS: tuple[str, ...] = get_args(NoteKind)
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
TRIGGERS: tuple[str, ...] = get_args(Trigger)


@dataclass(frozen=True)
class Thread:
    """A thread as stored. `config` is parsed and validated once, by the store that read it (a bad field
    replaced by its default, each replacement in `config_warnings`); `config_json` is the stored text."""

    id: str
    title: str
    workspace: Path | None
    config_json: str
    created_at: float
    last_active_at: float | None
    paused: bool = False
    config: HeartbeatConfig = field(default_factory=lambda: _default_config(), compare=False)
    config_warnings: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Message:
    id: int
    thread_id: str
    role: Role
    text: str
    created_at: float


@dataclass(frozen=True)
class Note:
    id: int
    thread_id: str
    kind: NoteKind
    text: str
    resolved: bool
    created_at: float


@dataclass(frozen=True)
class FeedPost:
    id: int
    thread_id: str | None
    title: str
    content: str
    score: int
    comment_count: int
    created_at: float
    run_id: str | None = None
    # The post's newest few comments, oldest of them first (what a heartbeat's context shows of them; empty
    # where the reader did not ask for them): comment_count says how many there are in all.
    latest_comments: tuple[FeedComment, ...] = ()


@dataclass(frozen=True)
class FeedComment:
    id: int
    post_id: int
    thread_id: str | None
    run_id: str | None
    content: str
    created_at: float


@dataclass
class RunRecord:
    """One heartbeat of one thread, as stored. Mutable while the run is in flight."""

    id: str
    thread_id: str
    trigger: Trigger
    dry_run: bool
    started_at: float
    status: RunStatus = "started"
    reason: str = ""
    model: str | None = None
    prompt: str | None = None
    raw_reply: str | None = None
    decision: dict[str, Any] | None = None
    action_result: dict[str, Any] | None = None
    finished_at: float | None = None
    llm_ms: float | None = None
    total_ms: float | None = None
    fingerprint: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    warnings: list[str] = field(default_factory=list)
    # How the model was asked (core/decide.py); in reason-first mode, the reasoning call's text and time
    # (llm_ms and the token counts cover both calls).
    decision_mode: str | None = None
    reasoning: str | None = None
    reasoning_ms: float | None = None
    # What replaying this run needs beside its prompt: the actions and post ids it was offered, its caps,
    # max_tokens and temperature (core/replay.py).
    inputs: dict[str, Any] | None = None
    # A scheduled run's slot: the time it was due. `started_at - slot_at` is how late it started (it waited
    # for a free model, the machine slept); None for manual runs, which serve no slot.
    slot_at: float | None = None
    # When the retention (keep_run_details_days) dropped this old run's prompt, reply and reasoning.
    pruned_at: float | None = None
    # A failure's kind (LLMError.kind, a refusal's kind): the app treats "Ollama is down" differently from a
    # bad reply, and only some kinds count toward backoff (core.schedule.counts_toward_backoff).
    error_kind: str | None = None
    # Not stored: a busy deferral tells the scheduler when to try again.
    defer_until: float | None = None
    # Set when this run tripped the same-answer breaker and paused its thread (the app reloads and says so).
    paused_thread: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Refusal(StrEnum):
    """Why a requested run did not happen. A str so it crosses the CLI's socket as itself: the CLI and the
    local API choose their answer (exit 2, HTTP 409) by this value, never by the wording of the message."""

    NO_THREAD = "no_thread"
    BUSY = "busy"  # a run of that thread is already in progress or queued
    TIMED_OUT = "timed_out"  # the caller stopped waiting; the run may still finish (History shows it)
    CRASHED = "crashed"


@dataclass(frozen=True)
class RunRefused:
    """The answer to a run-now that produced no run record: `why` for code, `message` for people."""

    why: Refusal
    message: str


def _default_config() -> HeartbeatConfig:
    from .config import HeartbeatConfig

    return HeartbeatConfig()
