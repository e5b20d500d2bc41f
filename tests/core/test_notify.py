from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.models import RunRecord
from heartbeat_desktop.core.notify import Notice, fold_failures, notice_for


def _run(**kw) -> RunRecord:
    base = {"id": "r", "thread_id": "default", "trigger": "schedule", "dry_run": False, "started_at": 0.0}
    base.update(kw)
    return RunRecord(**base)


def test_post_notifies_with_title_and_start_of_body() -> None:
    run = _run(
        status="ok",
        decision={"action": "post", "title": "Daily summary", "content": "word " * 100},
        action_result={"post_id": 4},
    )
    notice = notice_for(run, HeartbeatConfig(), "Work stuff")
    assert notice.title == "Work stuff: Daily summary" and notice.post_id == 4 and not notice.critical
    assert notice.body.startswith("word word") and len(notice.body) <= 160


def test_failure_is_critical_with_the_reason() -> None:
    notice = notice_for(
        _run(status="failed", reason="model 'x' is not installed — run `ollama pull x`"), HeartbeatConfig()
    )
    assert notice.critical and "ollama pull x" in notice.body


def test_a_failure_says_what_to_do_when_its_reason_does_not() -> None:
    bare = _run(status="failed", reason="Ollama at http://x returned HTTP 500: boom", error_kind="http_error")
    notice = notice_for(bare, HeartbeatConfig(), "Work stuff")
    assert notice.title == "Heartbeat failed in Work stuff"
    assert notice.body.splitlines() == [bare.reason, "The model server reported an error: see its log, then Retry."]
    advised = _run(status="failed", reason="cannot reach Ollama at x — start Ollama", error_kind="unreachable")
    assert notice_for(advised, HeartbeatConfig()).body == advised.reason  # its own advice, not twice
    refused = _run(
        status="failed",
        reason="refused: this thread already posted 10 time(s) today (limit 10)",
        error_kind="daily_cap",
    )
    assert "The thread's own limits refused it" in notice_for(refused, HeartbeatConfig()).body


def test_silent_cases_and_mutes() -> None:
    config = HeartbeatConfig()
    assert notice_for(_run(status="ok", decision={"action": "none"}), config) is None
    assert notice_for(_run(status="skipped", reason="nothing new"), config) is None
    assert (
        notice_for(_run(status="ok", dry_run=True, decision={"action": "post", "title": "t", "content": "c"}), config)
        is None
    )
    assert notice_for(_run(status="ok", decision={"action": "vote", "post_id": 1, "direction": "up"}), config) is None
    assert notice_for(_run(status="failed", dry_run=True, reason="HTTP 500"), config) is None  # the asker sees it
    assert (
        notice_for(
            _run(status="ok", decision={"action": "vote", "post_id": 1, "direction": "up"}),
            HeartbeatConfig(notify_votes=True),
        ).title
        == "default voted up on “#1”"
    )
    assert notice_for(_run(status="failed", reason="x"), HeartbeatConfig(notify_failures=False)) is None
    assert (
        notice_for(
            _run(status="ok", decision={"action": "post", "title": "t", "content": "c"}),
            HeartbeatConfig(notify_posts=False),
        )
        is None
    )


def test_burst_folds_into_one() -> None:
    notices = [
        notice_for(_run(status="failed", reason="cannot reach Ollama", thread_id=t), HeartbeatConfig())
        for t in ("a", "b", "c")
    ]
    folded = fold_failures(notices)
    assert folded.title == "3 heartbeats failed" and folded.critical and "a: cannot reach Ollama" in folded.body
    assert fold_failures(notices[:1]) == notices[0]


def test_a_held_failure_that_is_over_is_still_summed_up_as_over() -> None:
    """#27 item 4: a held failure withdrawn while Do Not Disturb was on is said once it is off, marked over."""
    from heartbeat_desktop.core.notify import ended, held_summary

    failure = Notice("Heartbeat Desktop cannot reach Ollama", "down", critical=True, alone=True, key="health")
    post = Notice("Work: Standup notes", "Three items.", thread_id="work", post_id=1)
    gone = ended(failure)
    assert gone.title == "Heartbeat Desktop cannot reach Ollama (over now)" and gone.key is None and gone.over
    assert ended(gone) == gone
    summary = held_summary([gone, post])
    assert summary.title == "While Do Not Disturb was on: 1 update and 1 failure"
    assert summary.body.splitlines() == [gone.title, post.title]
    assert not summary.critical  # nothing in it is a problem now: it need not stay on screen
    assert held_summary([failure, post]).critical
    alone = held_summary([gone])
    assert alone.title == gone.title and not alone.critical


def test_a_missing_heartbeat_md_offers_the_editor_not_a_retry() -> None:
    """#27 item 5: a Retry would fail the same way; Open HEARTBEAT.md is where the template is offered."""
    from heartbeat_desktop.core.notify import ACTION_LABELS, EDIT, HISTORY

    run = _run(status="failed", reason="HEARTBEAT.md: /w/HEARTBEAT.md does not exist — …", error_kind="heartbeat_md")
    notice = notice_for(run, HeartbeatConfig(), "Project")
    assert notice.actions == (EDIT, HISTORY) and ACTION_LABELS[EDIT] == "Open HEARTBEAT.md"
    assert notice.critical and notice.thread_id == "default"
