"""Every action says why (#26 item 3): the HEARTBEAT.md item it follows and the context items that call for it,
offered as enums, checked, shown — and an action that cites only what the last heartbeat saw is refused."""

from __future__ import annotations

import json

from heartbeat_desktop.core import heartbeat_md
from heartbeat_desktop.core.citations import (
    because_of_run,
    nothing_new,
    numbered_items,
    numbered_text,
    ref_label,
)
from heartbeat_desktop.core.config import HeartbeatConfig
from heartbeat_desktop.core.decision_schema import DecisionSchema
from heartbeat_desktop.core.heartbeat_md import ITEMS_MAX
from heartbeat_desktop.core.notify import notice_for
from heartbeat_desktop.core.present import describe_run, run_record, run_summary
from heartbeat_desktop.core.runner import HeartbeatRunner
from heartbeat_desktop.store import SqliteStore
from tests.support.ollama_server import OllamaServer, Reply

MD = heartbeat_md.parse(
    "## Checklist\n- [x] done already\n- [ ] Summarise open questions\n"
    "## Rules\nIf a question is open → post a reminder.\n## Proactive behaviours\n- Greet on Mondays\n"
)


def _post(title: str, *, rule: int | None = 2, because: list[str] | None = None) -> str:
    decision: dict[str, object] = {"action": "post", "title": title, "content": "text", "reason": "r"}
    if rule is not None:
        decision["rule"] = rule
    if because is not None:
        decision["because"] = because
    return json.dumps(decision)


def test_items_are_numbered_open_checklist_first_and_ticked_ones_left_out() -> None:
    items = numbered_items(MD)
    assert [(i.number, i.kind, i.text) for i in items] == [
        (1, "checklist", "Summarise open questions"),
        (2, "rule", "If a question is open → post a reminder."),
        (3, "behaviour", "Greet on Mondays"),
    ]
    huge = heartbeat_md.parse("## Checklist\n" + "- [ ] water the plants\n" * 5000)
    assert len(numbered_items(huge)) == ITEMS_MAX  # a huge file does not multiply into the prompt and schema


def test_the_schema_offers_only_the_items_and_refs_shown_and_asks_an_action_for_at_least_one() -> None:
    schema = DecisionSchema.for_run(("post", "vote"), [7], 1, rules=[1, 2, 3], refs=["m4", "p7"])
    branches = {b["properties"]["action"]["const"]: b for b in schema.for_ollama()["anyOf"]}
    assert "rule" not in branches["none"]["properties"] and "because" not in branches["none"]["properties"]
    for action in ("post", "vote"):
        props = branches[action]["properties"]
        assert list(props)[:3] == ["action", "rule", "because"]  # the grounds before the text
        assert props["rule"] == {"type": "integer", "enum": [1, 2, 3]}
        assert props["because"]["items"]["enum"] == ["m4", "p7"] and props["because"]["minItems"] == 1
        assert {"rule", "because"} <= set(branches[action]["required"])
    # OpenAI's strict mode takes no length keywords: the enums stay, the counts go
    strict = schema.for_openai_strict()["properties"]["decision"]["anyOf"]
    post = next(b for b in strict if "title" in b["properties"])
    assert post["properties"]["because"] == {"type": "array", "items": {"type": "string", "enum": ["m4", "p7"]}}
    # nothing to cite: the field is not asked for
    bare = DecisionSchema.for_run(("post",), [], 1).for_ollama()["anyOf"][1]["properties"]
    assert "rule" not in bare and "because" not in bare


def test_the_prompt_numbers_the_items_and_every_context_item_carries_its_ref(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    message = store.threads.add_message("default", "Is the report ready?")
    note = store.threads.add_note("default", "The user prefers short posts")
    ollama.script(Reply('{"action": "none", "reason": "quiet"}'))
    run = runner.run("default")
    body = ollama.chat_requests()[-1].body
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    # the numbers sit on the items' own lines: the file is not sent twice (a 2048-token server has no room)
    assert "[1] - [ ] Summarise open questions" in system and "[2] If a question is open → post a reminder." in system
    assert system.count("Summarise open questions") == 1
    assert f'"ref": "m{message}"' in user and f'"ref": "n{note}"' in user
    assert run.inputs["refs"] == [f"m{message}", f"n{note}"] and run.inputs["rules"] == [1, 2]


def test_an_action_that_cites_the_new_message_is_written_and_says_why(
    qapp: object, runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    message = store.threads.add_message("default", "Is the report ready?")
    ollama.script(Reply(_post("Reminder: the report", because=[f"m{message}"])))
    run = runner.run("default")
    assert run.status == "ok", run.reason
    stored = store.runs.get(run.id)
    assert stored.decision["rule"] == 2 and stored.decision["because"] == [f"m{message}"]
    why = because_of_run(stored.decision, stored.inputs)
    assert why == f"because rule 2 (“If a question is open → post a reminder.”) and message {message}"
    notice = notice_for(stored, HeartbeatConfig())
    assert notice is not None and notice.body.endswith(
        f"Because rule 2 (“If a question is open → post a reminder.”) and message {message}."
    )
    # the command line's line, `history --json` and the API say the same
    assert f", because rule 2 (“If a question is open → post a reminder.”) and message {message} — r" in (
        describe_run(stored)
    )
    assert run_record(stored)["why"] == why and run_summary(stored)["why"] == why
    from heartbeat_desktop.qt.windows.history_window import run_details

    assert f"Why: {why}" in run_details(stored)


def test_an_action_on_what_the_last_heartbeat_already_saw_is_refused_quietly(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    old = store.threads.add_message("default", "Is the report ready?")
    ollama.script(Reply('{"action": "none", "reason": "nothing yet"}'))
    assert runner.run("default").status == "ok"
    new = store.threads.add_message("default", "thanks!")
    # The model acts now, on the question it declined a run ago: nothing new calls for it.
    ollama.script(Reply(_post("Reminder: the report", because=[f"m{old}"])))
    refused = runner.run("default")
    assert refused.status == "failed" and refused.error_kind == "nothing_new"
    assert f"nothing new calls for this post (it cites only message {old}" in refused.reason
    assert store.feed.posts() == []
    assert notice_for(refused, HeartbeatConfig()) is None  # the guard working is not a failure to notify
    # Citing nothing at all, where there is something to cite, is not a decision the app accepts.
    ollama.script(Reply(_post("Reminder: the report", because=[])), Reply(_post("Reminder: the report", rule=None)))
    bare, ruleless = runner.run("default"), runner.run("default")
    assert bare.error_kind == "invalid_reply" and "it cites no item of the context (because)" in bare.reason
    assert ruleless.error_kind == "invalid_reply" and "which HEARTBEAT.md item it follows (rule)" in ruleless.reason
    # Citing the new message is.
    ollama.script(Reply(_post("Thanks noted", because=[f"m{new}", f"m{old}"])))
    assert runner.run("default").status == "ok"
    assert [p.title for p in store.feed.posts()] == ["Thanks noted"]


def test_a_model_stuck_on_one_post_is_refused_as_nothing_new_and_never_paused(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    """Found by the README-only attack: the duplicate check came first, so the same cited post again and again
    counted toward the repeated-answer pause; it is first of all nothing new, which never pauses a thread."""
    store.threads.set_config("default", HeartbeatConfig(pause_after_same_answer=3))
    message = store.threads.add_message("default", "Is the report ready?")
    ollama.default = Reply(_post("Reminder: the report", because=[f"m{message}"]))
    first, *again = (runner.run("default") for _ in range(4))
    assert first.status == "ok"
    assert [r.error_kind for r in again] == ["nothing_new"] * 3 and not store.threads.get("default").paused


def test_the_nothing_new_rule_is_a_setting(runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer) -> None:
    old = store.threads.add_message("default", "Is the report ready?")
    ollama.script(Reply('{"action": "none", "reason": "nothing yet"}'))
    runner.run("default")
    store.threads.add_message("default", "hello?")
    store.threads.set_config("default", HeartbeatConfig(require_new_evidence=False))
    ollama.script(Reply(_post("Reminder: the report", because=[f"m{old}"])))
    assert runner.run("default").status == "ok"


def test_a_citation_the_run_did_not_show_is_an_invalid_decision(
    runner: HeartbeatRunner, store: SqliteStore, ollama: OllamaServer
) -> None:
    """Only a server that ignored the schema can send these; the runner checks them again."""
    message = store.threads.add_message("default", "Is the report ready?")
    ollama.script(Reply(_post("A", rule=9, because=[f"m{message}"])), Reply(_post("B", because=["p404"])))
    first, second = runner.run("default"), runner.run("default")
    assert first.status == "failed" and "rule 9 is not among the items the prompt numbered (1–2)" in first.reason
    assert second.status == "failed" and "because cites p404, not among the items shown" in second.reason
    assert store.feed.posts() == []


def test_an_item_no_line_can_be_found_for_is_listed_apart() -> None:
    md = heartbeat_md.parse("## Rules\nIf it rains → post a reminder.\n")
    text, unplaced = numbered_text("## Rules\n  If it rains → post a reminder.\n", md, [1])
    assert text == "## Rules\n  [1] If it rains → post a reminder.\n" and unplaced == []
    text, unplaced = numbered_text("something else entirely", md, [1])
    assert text == "something else entirely" and [(i.number, i.text) for i in unplaced] == [(1, md.rules[0].text)]
    assert numbered_text("## Rules\nIf it rains → post a reminder.", md, [])[0].count("[") == 0  # none wanted


def test_nothing_new_and_the_labels() -> None:
    assert nothing_new(["m1"], None) is False  # no earlier heartbeat to compare with: everything is new
    assert nothing_new(["m1"], {"m1", "p2"}) is True
    assert nothing_new([], {"m1"}) is True
    assert nothing_new([], None) is True  # citing nothing is nothing new, even on a first heartbeat
    assert nothing_new(["p7"], None, own={"p7"}) is True  # the thread's own post is not news to it
    assert nothing_new(["m1", "m3"], {"m1"}) is False
    assert [ref_label(r) for r in ("p22", "m5", "n3", "x1")] == ["post #22", "message 5", "note 3", "x1"]
    assert because_of_run({"rule": True, "because": "p1"}, None) == ""  # a damaged record says nothing
    assert because_of_run({"rule": 3, "because": ["p1"]}, None) == "because rule 3 and post #1"  # details pruned
