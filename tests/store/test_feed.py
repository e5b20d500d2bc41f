"""The feed: posts, comments, votes. Real SQLite files in temp directories."""

import pytest

from heartbeat_desktop.core.ports import StoreError
from heartbeat_desktop.store import SqliteStore
from tests.support.records import started_run as _run


def test_votes_replace_and_score(store: SqliteStore) -> None:
    run = _run(store)
    run.status = "ok"
    post_id = store.finish_run(run, {"action": "post", "title": "t", "content": "c"})["post_id"]
    store.threads.create("other")
    store.feed.vote(post_id, "default", "up")
    store.feed.vote(post_id, "other", "up")
    assert store.feed.get_post(post_id).score == 2
    store.feed.vote(post_id, "other", "down")  # a later vote replaces the earlier one
    assert store.feed.get_post(post_id).score == 0
    with pytest.raises(StoreError, match="does not exist"):
        store.feed.vote(999, "default", "up")


def test_comment_needs_a_post(store: SqliteStore) -> None:
    run = _run(store)
    run.status = "ok"
    with pytest.raises(StoreError, match="does not exist"):
        store.finish_run(run, {"action": "comment", "post_id": 42, "content": "c"})
    assert store.runs.get(run.id).status == "started"  # rolled back as a whole


def test_sql_injection_is_inert(store: SqliteStore) -> None:
    evil = "x'); DROP TABLE posts; --"
    store.threads.add_message("default", evil)
    store.settings.set("default_model", evil)
    assert store.threads.messages("default")[0].text == evil
    assert store.settings.get("default_model") == evil
    assert store.feed.counts()["posts"] == 0
