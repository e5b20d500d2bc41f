"""What the user said about an action the agent took, and what it comes to.

The app already knows when the user disagrees — Undo, a down-vote of the agent's own post, a dismissed
suggestion — and the user can say so outright ("Not useful", with a reason). Each such event is recorded
against the run that acted (one table, `store/feedback.py`). Whether an action was *kept* is not an event
anyone records: it is what remains when nobody took it back or voted it down within a day, or when the
user up-voted it. `outcome` computes that, so the act-on rate (kept / judged) never depends on a job that
has to run at the right moment.

A vote is a word the user may change: only their latest vote on an item stands (a down-vote then an up-vote
is kept, an up-vote then a down-vote rejected), while Undo and "Not useful" stand whatever came after.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

FeedbackKind = Literal["undo", "down_vote", "not_useful", "up_vote"]
FeedbackReason = Literal["not_now", "already_knew", "wrong_thread", "wrong"]
FeedbackSource = Literal["notification", "feed", "history", "cli", "api"]
Outcome = Literal["rejected", "kept", "pending"]

FEEDBACK_KINDS: tuple[str, ...] = get_args(FeedbackKind)
FEEDBACK_REASONS: tuple[str, ...] = get_args(FeedbackReason)
FEEDBACK_SOURCES: tuple[str, ...] = get_args(FeedbackSource)
REJECTIONS = frozenset({"undo", "down_vote", "not_useful"})
VOTES = frozenset({"down_vote", "up_vote"})  # of these only the latest on a run stands: the user changed their mind
KEPT_AFTER_S = 86_400.0  # an action nobody took back or voted down within a day was kept

# How each reason reads to a person (the chips in the app, the CLI's list): the stored value is the key.
REASON_LABELS = {
    "not_now": "not now",
    "already_knew": "already knew",
    "wrong_thread": "wrong thread",
    "wrong": "wrong",
}


STEP_DOWN_AFTER = 3  # rejections of one kind of action …
STEP_DOWN_WITHIN_S = 7 * 86400  # … within a week step the thread's daily cap for it down by one (never below 1)


@dataclass(frozen=True)
class Feedback:
    id: int
    run_id: str
    thread_id: str | None
    kind: FeedbackKind
    reason: FeedbackReason | None
    source: FeedbackSource
    created_at: float
    # What the app changed because of it, in words (a daily cap stepped down), for the one who gave it.
    note: str | None = None
    # The same word said again (same run, kind and reason as the run's latest): nothing new was recorded.
    already_recorded: bool = False
    # The rule line "Don't suggest this again" added to HEARTBEAT.md for it: the user's reason in their words.
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        """`created_at` in ISO 8601 with the local offset, as every time in the JSON (history --json)."""
        from datetime import datetime

        return {
            "id": self.id,
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "kind": self.kind,
            "reason": self.reason,
            "source": self.source,
            "created_at": datetime.fromtimestamp(self.created_at).astimezone().isoformat(timespec="seconds"),
            "note": self.note,
            "already_recorded": self.already_recorded,
            "rule": self.rule,
        }


def said_reason(reason: str | None, rule: str | None) -> str | None:
    """The user's reason as the next heartbeats are told it: the chip they picked, the rule they wrote for
    "Don't suggest this again", or both ("already knew: If … → HEARTBEAT_OK.")."""
    label = REASON_LABELS.get(reason) if reason else None
    if label and rule:
        return f"{label}: {rule}"
    return label or rule or None


def reason_from_text(text: str) -> FeedbackReason:
    """A reason as typed ("not now", "not-now", "NOT_NOW"); raises ValueError naming the choices."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in FEEDBACK_REASONS:
        raise ValueError(f"reason must be one of: {', '.join(REASON_LABELS.values())}")
    return key  # type: ignore[return-value]


def standing(events: Iterable[Feedback]) -> list[Feedback]:
    """The events that still count, in the order they were said: every Undo and "Not useful", and of the
    votes only the latest (a down-vote the user took back with an up-vote no longer rejects)."""
    said = sorted(events, key=lambda e: e.id)
    last_vote = next((e for e in reversed(said) if e.kind in VOTES), None)
    return [e for e in said if e.kind not in VOTES or e is last_vote]


def outcome(events: Iterable[Feedback], acted_at: float, now: float) -> Outcome:
    """What the user made of one action: rejected (taken back, voted down or marked not useful, at any time),
    kept (up-voted, or a day passed without a rejection), or pending (younger than a day, no word yet). Of
    the user's votes only the latest counts (`standing`)."""
    kinds = {e.kind for e in standing(events)}
    return outcome_of(bool(kinds & REJECTIONS), "up_vote" in kinds, acted_at, now)


def outcome_of(rejected: bool, up_voted: bool, acted_at: float, now: float) -> Outcome:
    """`outcome` from what a query already summed up (the act-on rate over thousands of runs)."""
    if rejected:
        return "rejected"
    if up_voted or now - acted_at >= KEPT_AFTER_S:
        return "kept"
    return "pending"


@dataclass(frozen=True)
class ActOnRate:
    """The share of the agent's actions the user kept, over those judged (kept or rejected)."""

    kept: int
    rejected: int
    pending: int

    @property
    def judged(self) -> int:
        return self.kept + self.rejected

    @property
    def rate(self) -> float | None:
        return self.kept / self.judged if self.judged else None

    def to_dict(self) -> dict[str, object]:
        rate = self.rate
        return {
            "kept": self.kept,
            "rejected": self.rejected,
            "pending": self.pending,
            "rate": None if rate is None else round(rate, 3),
        }


def act_on_rate(outcomes: Iterable[Outcome]) -> ActOnRate:
    counts = {"kept": 0, "rejected": 0, "pending": 0}
    for item in outcomes:
        counts[item] += 1
    return ActOnRate(counts["kept"], counts["rejected"], counts["pending"])


def act_on_text(week: ActOnRate, month: ActOnRate) -> str:
    """ "Kept 3 of 4 actions this week (75 %), 10 of 14 this month (71 %)" — the line History and `status` show."""

    def one(rate: ActOnRate, when: str) -> str:
        if not rate.judged:
            return f"none judged yet {when}"
        return f"{rate.kept} of {rate.judged} {when} ({rate.rate:.0%})"

    if not week.judged and not month.judged and not (week.pending or month.pending):
        return "Kept: no actions yet this month"
    return f"Kept {one(week, 'this week')}, {one(month, 'this month')}"


@dataclass(frozen=True)
class RejectedAction:
    """One of the thread's own actions the user rejected, as the next heartbeats are told of it (#26): what it
    was, and how and why the user said no. Data in the prompt, like the feed; the instruction beside it asks
    the model not to take that kind of action again for the same reason."""

    action: str
    title: str
    how: str  # "undone", "voted down", "marked not useful"
    reason: str | None  # the user's reason, as shown (REASON_LABELS)
    at: float
    post_id: int | None = None  # what a comment or vote was on

    def same_as(self, action: str, title: str | None, post_id: int | None) -> bool:
        """The same rejected answer again: the same kind of action on the same post (a comment, a vote), or a
        post with the same title (case, spacing and Unicode form aside) — what the user already said no to."""
        if action != self.action:
            return False
        if action == "post":
            return title is not None and _folded(title) == _folded(self.title)
        return post_id is not None and post_id == self.post_id


def _folded(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


REJECTION_WORDS = {"undo": "undone", "down_vote": "voted down", "not_useful": "marked not useful"}
