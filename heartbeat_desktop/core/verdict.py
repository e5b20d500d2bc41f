"""What a run decided, reduced to what two decisions are compared by (eval scores, replay diffs).

Two posts with different wording are the same *decision* (a post); a comment on post 3 and one on post 4
are not. A reply that did not validate, a decision the thread's rules refused, and a call that failed are
each their own outcome, so "the new model answers garbage where the old one stayed quiet" shows up as a
change rather than as two kinds of nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .models import RunRecord
from .refusals import REFUSAL_KINDS, STORE_REFUSALS

Outcome = Literal["valid", "refused", "invalid", "error", "skipped"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    action: str | None = None  # none|post|comment|vote when the model chose one (valid or refused)
    post_id: int | None = None
    direction: str | None = None
    title: str | None = None
    detail: str = ""  # the decision's own reason, or why it failed
    refusal: str | None = None  # a refused decision's RefusalKind (never read back from `detail`)
    rule: int | None = None  # the HEARTBEAT.md item the decision cited (core/citations.py)

    @property
    def acted(self) -> bool:
        """The model chose to act (whether or not the app let it)."""
        return self.action not in (None, "none") and self.outcome in ("valid", "refused")

    def key(self) -> str:
        """The comparable part: equal keys are the same decision."""
        if self.outcome in ("invalid", "error", "skipped"):
            return self.outcome
        if self.outcome == "refused" and self.refusal in STORE_REFUSALS:
            return str(self.action)
        target = {
            "comment": f" on #{self.post_id}",
            "vote": f" {self.direction} on #{self.post_id}",
        }.get(self.action or "", "")
        prefix = "refused " if self.outcome == "refused" else ""
        return f"{prefix}{self.action}{target}"

    def label(self) -> str:
        """For a person: the key, with a post's title."""
        if self.outcome == "valid" and self.action == "post" and self.title:
            return f'post "{_clip(self.title, 48)}"'
        return self.key()

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.key(), **asdict(self)}

    @classmethod
    def of_decision(
        cls, decision: dict[str, Any] | None, outcome: Outcome, detail: str = "", refusal: str | None = None
    ) -> Verdict:
        d = decision or {}
        post_id = d.get("post_id")
        rule = d.get("rule")
        return cls(
            outcome,
            action=d.get("action"),
            post_id=post_id if isinstance(post_id, int) else None,
            direction=d.get("direction"),
            title=d.get("title"),
            detail=detail or str(d.get("reason") or ""),
            refusal=refusal,
            rule=rule if isinstance(rule, int) and not isinstance(rule, bool) else None,
        )

    @classmethod
    def of_run(cls, run: RunRecord) -> Verdict:
        """A run's outcome, from what is stored (a recorded run) or also its error kind (a live one)."""
        if run.status == "ok":
            return cls.of_decision(run.decision, "valid")
        if run.status == "skipped":
            return cls("skipped", detail=run.reason)
        refused = run.error_kind in REFUSAL_KINDS
        if run.status == "failed" and run.decision and refused:
            return cls.of_decision(run.decision, "refused", run.reason, refusal=run.error_kind)
        if run.status == "failed" and (run.decision or run.raw_reply is not None) and run.error_kind != "cancelled":
            return cls("invalid", detail=run.reason)
        return cls("error", detail=run.reason)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
