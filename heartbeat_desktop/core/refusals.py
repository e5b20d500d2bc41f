"""Why the app refused a decision the model made: each refusal's kind, which code decides by (backoff, the
verdict of an eval or a replay, a notification's advice), and its one sentence, which people read.

The sentence is written here once for each kind. Nothing may parse it back: a run's `error_kind` (stored
with the run) carries the kind, so rewording a sentence cannot change what the app does.
"""

from __future__ import annotations

from enum import StrEnum

from .models import RUN_STATUSES


class RefusalKind(StrEnum):
    NOT_ALLOWED = "not_allowed"  # an action the thread's allow-list does not have
    DAILY_CAP = "daily_cap"  # past the thread's daily limit for that kind of action
    DUPLICATE = "duplicate"  # the same post as one in the feed from the last 24 h, by any thread
    NOT_OFFERED = "not_offered"  # an action the run's schema did not offer (a server that ignored it)
    REJECTED_BEFORE = "rejected_before"  # the same answer the user rejected (undid, voted down, not useful)
    NOTHING_NEW = "nothing_new"  # it cites only what the last heartbeat already saw (core/citations.py)


REFUSAL_KINDS: tuple[str, ...] = tuple(RefusalKind)
# Refusals only the store can make (the same post again in 24 h): a replay stops short of the store, so it
# cannot refuse so, and the recorded run compares as the post the model chose.
STORE_REFUSALS: tuple[str, ...] = (RefusalKind.DUPLICATE,)

# Refusals that are the app working as meant, not something to fix: recorded in History, no notification.
QUIET_REFUSALS: tuple[str, ...] = (RefusalKind.NOTHING_NEW,)

# The statuses a person filters and counts runs by (History's filter and chart, `history --status`): the
# stored ones, with "refused" told apart from "failed" as History's status column shows it.
REFUSED = "refused"
SHOWN_STATUSES: tuple[str, ...] = tuple(
    shown for status in RUN_STATUSES for shown in ((status, REFUSED) if status == "failed" else (status,))
)

_PAST = {"post": "posted", "comment": "commented", "vote": "voted"}


def refused(status: str | None, error_kind: str | None) -> bool:
    """A run the app's own rules stopped (recorded as failed, with the refusal's kind): the app working as
    meant, so the icon, the menu and `status` call it refused, not a failure to fix."""
    return status == "failed" and error_kind in REFUSAL_KINDS


def shown_status(status: str | None, error_kind: str | None) -> str | None:
    """What a person reads for a run's outcome: "refused" for a refusal, else the status itself."""
    return REFUSED if refused(status, error_kind) else status


def status_words(status: str, error_kind: str | None) -> str:
    """A run's outcome in the words History's status column uses: "refused (nothing new)" for a refusal
    (which rule stopped it), else the stored status. `run-now --json`, `history --json` and the API give it
    as `shown_status` beside the stored `status` (which stays "failed" for a refusal, for scripts that read it)."""
    if refused(status, error_kind) and error_kind:
        return f"{REFUSED} ({error_kind.replace('_', ' ')})"
    return status


def not_allowed(action: str, allowed: list[str] | tuple[str, ...]) -> str:
    listed = ", ".join(allowed) or "nothing but HEARTBEAT_OK"
    return f"refused: {action} is not allowed for this thread (allowed: {listed})"


def daily_cap(action: str, done: int, limit: int) -> str:
    return f"refused: this thread already {_PAST.get(action, action)} {done} time(s) today (limit {limit})"


def not_offered(action: str, why: str) -> str:
    return f"refused: {action} was not available ({why})"


def duplicate(post_id: int, thread_id: str | None = None) -> str:
    """Which post it repeats and whose it is: the guard looks at the whole feed, so the repeated post may be
    another thread's (one summary posted by three threads)."""
    by = f"thread {thread_id}" if thread_id else "a thread since removed"
    return f"refused: the same post as #{post_id}, made by {by} in the last 24 h"


def rejected_before(action: str, how: str, reason: str | None) -> str:
    why = f": {reason}" if reason else ""
    return f"refused: the same {action} as one you rejected ({how}{why})"


def nothing_new(action: str, because: tuple[str, ...] | list[str]) -> str:
    from .citations import ref_label

    labels = [ref_label(r) for r in dict.fromkeys(because)]
    cited = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1] if labels else ""
    what = (
        f"it cites only {cited}, which the last heartbeat already saw or this thread wrote"
        if cited
        else "it cites nothing"
    )
    return f"refused: nothing new calls for this {action} ({what})"
