"""What the user said about the agent's actions (core/feedback.py), one row per event, against the run."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import json
import sqlite3
import time
from collections.abc import Callable

from ..core.config import HeartbeatConfig
from ..core.feedback import (
    FEEDBACK_KINDS,
    FEEDBACK_REASONS,
    FEEDBACK_SOURCES,
    REJECTION_WORDS,
    REJECTIONS,
    STEP_DOWN_AFTER,
    STEP_DOWN_WITHIN_S,
    ActOnRate,
    Feedback,
    FeedbackKind,
    FeedbackReason,
    FeedbackSource,
    RejectedAction,
    act_on_rate,
    outcome_of,
    said_reason,
)
from ..core.ports import StoreError
from .db import Database


def _stands(alias: str) -> str:
    """SQL: feedback row `alias` still counts — an Undo or "Not useful" always, a vote only while it is the
    run's latest vote (core/feedback.py `standing`). Fixed text: `alias` is one of this module's aliases."""
    return (
        f"({alias}.kind IN ('undo', 'not_useful') OR {alias}.id = (SELECT MAX(lv.id) FROM feedback lv "  # noqa: S608
        f"WHERE lv.run_id = {alias}.run_id AND lv.kind IN ('down_vote', 'up_vote')))"
    )


# Fixed SQL text only: every value in these queries is a bound parameter.
_STANDS_F, _STANDS_G = _stands("f"), _stands("g")
_STANDING_REJECTION = (
    "SELECT * FROM feedback f WHERE f.run_id = ? AND f.kind IN ('undo', 'down_vote', 'not_useful') AND "  # noqa: S608 - fixed text
    + _STANDS_F
    + " ORDER BY f.id DESC LIMIT 1"
)
_REJECTED = (
    "SELECT f.kind, f.reason, f.rule, f.created_at, r.decision FROM feedback f JOIN runs r ON r.id = f.run_id "  # noqa: S608 - fixed text
    "WHERE f.thread_id = ? AND f.kind IN ('undo', 'down_vote', 'not_useful') AND "
    + _STANDS_F
    + " AND f.id = (SELECT MAX(g.id) FROM feedback g WHERE g.run_id = f.run_id "
    "AND g.kind IN ('undo', 'down_vote', 'not_useful') AND " + _STANDS_G + ") ORDER BY f.id DESC LIMIT ?"
)
_ACT_ON = (
    "SELECT COALESCE(r.finished_at, r.started_at) AS acted_at, "
    "MAX(f.kind IN ('undo', 'down_vote', 'not_useful') AND " + _STANDS_F + ") AS rejected, "
    "MAX(f.kind = 'up_vote' AND " + _STANDS_F + ") AS up "
    "FROM runs r LEFT JOIN feedback f ON f.run_id = r.id "
    "WHERE r.status = 'ok' AND r.dry_run = 0 AND r.started_at >= ? AND (? IS NULL OR r.thread_id = ?) "
    "AND json_extract(r.decision, '$.action') IN ('post', 'comment', 'vote') "
    "GROUP BY r.id"
)
_REJECTED_RUNS = (
    "SELECT COUNT(DISTINCT f.run_id) FROM feedback f JOIN runs r ON r.id = f.run_id "  # noqa: S608 - fixed text
    "WHERE f.thread_id = ? AND f.created_at >= ? AND f.kind IN ('undo', 'down_vote', 'not_useful') AND "
    + _STANDS_F
    + " AND json_extract(r.decision, '$.action') = ?"
)


class FeedbackRepo:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def record(
        self,
        run_id: str,
        kind: FeedbackKind,
        source: FeedbackSource,
        reason: FeedbackReason | None = None,
    ) -> Feedback:
        """One event for a run that acted (wrote a post, comment or vote, or would have in a dry run).
        Raises StoreError for a run that does not exist or took no action: there is nothing to judge."""
        return self.db.transaction(lambda c: record_in(c, run_id, kind, source, reason, self.clock()))

    def with_rule(self, run_id: str, rule: str, source: FeedbackSource) -> tuple[Feedback, bool]:
        """ "Don't suggest this again" (#26): the rule the user wrote is their reason for rejecting the run's
        action. A run they rejected already (a chip, Undo, a down-vote) keeps that one row and gains the rule;
        otherwise one "not useful" row carries it. Never a second row for the same rejected action. Returns the
        row and whether it was made here (so an undo of the rule can take back exactly what it did)."""
        text = " ".join(rule.split())
        if not text:
            raise StoreError("the rule is empty")

        def work(c: sqlite3.Connection) -> tuple[Feedback, bool]:
            standing = c.execute(_STANDING_REJECTION, (run_id,)).fetchone()
            if standing is None:
                made = record_in(c, run_id, "not_useful", source, None, self.clock())
                c.execute("UPDATE feedback SET rule = ? WHERE id = ?", (text, made.id))
                return dataclasses.replace(made, rule=text), True
            c.execute("UPDATE feedback SET rule = ? WHERE id = ?", (text, standing["id"]))
            return dataclasses.replace(_feedback(standing), rule=text), False

        return self.db.transaction(work)

    def without_rule(self, feedback_id: int, made: bool) -> None:
        """The rule of `with_rule` was undone: the row it made goes, or the row it added the rule to loses it.
        (A daily cap it stepped down stays: the user was told how to restore it.)"""

        def work(c: sqlite3.Connection) -> None:
            if made:
                c.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,))
            else:
                c.execute("UPDATE feedback SET rule = NULL WHERE id = ?", (feedback_id,))

        self.db.transaction(work)

    def for_run(self, run_id: str) -> builtins.list[Feedback]:
        rows = self.db.read(
            lambda c: c.execute("SELECT * FROM feedback WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        )
        return [_feedback(r) for r in rows]

    def for_runs(self, run_ids: builtins.list[str]) -> dict[str, builtins.list[Feedback]]:
        """Each run's events, for a page of history (one query per 500 ids, not one per run)."""
        found: dict[str, builtins.list[Feedback]] = {run_id: [] for run_id in run_ids}
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start : start + 500]
            for row in self.db.read(functools.partial(_rows_of_runs, run_ids=chunk)):
                found[row["run_id"]].append(_feedback(row))
        return found

    def list(self, thread_id: str | None = None, limit: int = 50) -> builtins.list[Feedback]:
        rows = self.db.read(
            lambda c: c.execute(
                "SELECT * FROM feedback WHERE (? IS NULL OR thread_id = ?) ORDER BY id DESC LIMIT ?",
                (thread_id, thread_id, limit),
            ).fetchall()
        )
        return [_feedback(r) for r in rows]

    def rejected(self, thread_id: str, limit: int) -> builtins.list[RejectedAction]:
        """The thread's own actions the user rejected, newest first, each once (its latest word that still
        stands: a down-vote taken back by an up-vote does not), from the decision the run recorded: what the
        next heartbeats are told (#26)."""
        rows = self.db.read(lambda c: c.execute(_REJECTED, (thread_id, limit)).fetchall())
        found = []
        for row in rows:
            try:
                decision = json.loads(row["decision"]) if row["decision"] else {}
            except ValueError:
                decision = {}
            if not isinstance(decision, dict):
                continue
            title = decision.get("title") or decision.get("content") or f"post #{decision.get('post_id')}"
            found.append(
                RejectedAction(
                    action=str(decision.get("action", "?")),
                    title=str(title),
                    how=REJECTION_WORDS[row["kind"]],
                    reason=said_reason(row["reason"], row["rule"]),
                    at=row["created_at"],
                    post_id=decision.get("post_id") if isinstance(decision.get("post_id"), int) else None,
                )
            )
        return found

    def act_on(self, thread_id: str | None = None, since: float = 0.0) -> ActOnRate:
        """The share of the agent's actions since `since` (of one thread, or all) that the user kept: one
        query, however many runs (core/feedback.py says what kept and rejected mean)."""
        rows = self.db.read(lambda c: c.execute(_ACT_ON, (since, thread_id, thread_id)).fetchall())
        now = self.clock()
        return act_on_rate(outcome_of(bool(r["rejected"]), bool(r["up"]), r["acted_at"], now) for r in rows)


def act_on_summary(repo: FeedbackRepo, thread_id: str | None = None) -> dict[str, object]:
    """This week's and this month's act-on rates, as `status` and the API show them."""
    now = repo.clock()
    return {
        "week": repo.act_on(thread_id, now - 7 * 86400).to_dict(),
        "month": repo.act_on(thread_id, now - 30 * 86400).to_dict(),
    }


def record_in(
    c: sqlite3.Connection,
    run_id: str,
    kind: str,
    source: str,
    reason: str | None,
    now: float,
) -> Feedback:
    """`record` inside a transaction that is already open (Undo and a user's vote record theirs in the same
    transaction as the change they make, so the two can never disagree)."""
    if kind not in FEEDBACK_KINDS:
        raise StoreError(f"feedback kind must be one of {', '.join(FEEDBACK_KINDS)}")
    if source not in FEEDBACK_SOURCES:
        raise StoreError(f"feedback source must be one of {', '.join(FEEDBACK_SOURCES)}")
    if reason is not None and reason not in FEEDBACK_REASONS:
        raise StoreError(f"reason must be one of {', '.join(FEEDBACK_REASONS)}")
    run = c.execute("SELECT thread_id, decision FROM runs WHERE id = ?", (run_id,)).fetchone()
    if run is None:
        raise StoreError(f"no run {run_id!r} (see: heartbeat-desktop history)")
    if not _acted(c, run_id, run["decision"]):
        raise StoreError(f"run {run_id[:8]} took no action: there is nothing to give feedback on")
    if kind == "not_useful":  # said twice, it is said once: two events would count as two rejections
        last = c.execute("SELECT * FROM feedback WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)).fetchone()
        if last is not None and last["kind"] == kind and last["reason"] == reason:
            return dataclasses.replace(_feedback(last), already_recorded=True)
    cur = c.execute(
        "INSERT INTO feedback (run_id, thread_id, kind, reason, source, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, run["thread_id"], kind, reason, source, now),
    )
    note = _step_down(c, run["thread_id"], run["decision"], now) if kind in REJECTIONS and run["thread_id"] else None
    if note:
        c.execute("UPDATE feedback SET stepped = 1 WHERE id = ?", (cur.lastrowid,))
    return Feedback(int(cur.lastrowid or 0), run_id, run["thread_id"], kind, reason, source, now, note)  # type: ignore[arg-type]


def _step_down(c: sqlite3.Connection, thread_id: str, decision_json: str | None, now: float) -> str | None:
    """Every STEP_DOWN_AFTER-th rejection of one kind of action within STEP_DOWN_WITHIN_S steps the thread's
    daily cap for that kind down by one, never below 1 (#26): the user keeps saying no, so the agent does it
    less. Said in words (the caller shows it), with how to undo it; the config is the user's to raise again.

    Rejections are the runs rejected now (a down-vote changed to an up-vote is none), and each multiple of
    STEP_DOWN_AFTER steps once: a vote changed back and forth, or an Undo after "Not useful", reaches the same
    count again without stepping again (the rows that stepped are marked)."""
    try:
        action = (json.loads(decision_json) if decision_json else {}).get("action")
    except (ValueError, AttributeError):
        return None
    if action not in ("post", "comment", "vote"):
        return None
    count = c.execute(_REJECTED_RUNS, (thread_id, now - STEP_DOWN_WITHIN_S, action)).fetchone()[0]
    if count == 0 or count % STEP_DOWN_AFTER:
        return None
    stepped = c.execute(
        "SELECT COUNT(*) FROM feedback f JOIN runs r ON r.id = f.run_id WHERE f.thread_id = ? AND f.created_at >= ? "
        "AND f.stepped = 1 AND json_extract(r.decision, '$.action') = ?",
        (thread_id, now - STEP_DOWN_WITHIN_S, action),
    ).fetchone()[0]
    if count // STEP_DOWN_AFTER <= stepped:
        return None
    row = c.execute("SELECT config FROM threads WHERE id = ?", (thread_id,)).fetchone()
    if row is None:
        return None
    config, _warnings = HeartbeatConfig.load(row["config"])
    key = f"max_{action}s_per_day"
    cap = int(getattr(config, key))
    if cap <= 1:
        return None
    c.execute(
        "UPDATE threads SET config = ? WHERE id = ?", (config.with_updates(**{key: cap - 1}).to_json(), thread_id)
    )
    return (
        f"You rejected {count} of thread {thread_id}'s {action}s this week, so it may now make {cap - 1} a day "
        f"(was {cap}). To restore: heartbeat-desktop config set --thread {thread_id} {key} {cap}"
    )


def _acted(c: sqlite3.Connection, run_id: str, decision_json: str | None) -> bool:
    """The run wrote a post, comment or vote (still there, or taken back since), or decided one."""
    wrote = c.execute(
        "SELECT EXISTS (SELECT 1 FROM posts WHERE run_id = ?) OR EXISTS (SELECT 1 FROM comments WHERE run_id = ?) "
        "OR EXISTS (SELECT 1 FROM votes WHERE run_id = ?) OR EXISTS (SELECT 1 FROM undo_log WHERE run_id = ?)",
        (run_id, run_id, run_id, run_id),
    ).fetchone()[0]
    if wrote:
        return True
    try:
        decision = json.loads(decision_json) if decision_json else None
    except ValueError:
        return False
    return isinstance(decision, dict) and decision.get("action") in ("post", "comment", "vote")


def _rows_of_runs(c: sqlite3.Connection, run_ids: builtins.list[str]) -> builtins.list[sqlite3.Row]:
    marks = ",".join("?" * len(run_ids))  # only placeholders go into the text; the ids are parameters
    return c.execute(f"SELECT * FROM feedback WHERE run_id IN ({marks}) ORDER BY id", run_ids).fetchall()  # noqa: S608


def _feedback(row: sqlite3.Row) -> Feedback:
    return Feedback(
        id=row["id"],
        run_id=row["run_id"],
        thread_id=row["thread_id"],
        kind=row["kind"],
        reason=row["reason"],
        source=row["source"],
        created_at=row["created_at"],
        rule=row["rule"],
    )
