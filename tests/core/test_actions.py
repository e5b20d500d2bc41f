import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.actions import (
    CommentAction,
    InvalidDecision,
    NoneAction,
    PostAction,
    VoteAction,
    parse_decision,
    validate_decision,
)


def test_each_action_kind() -> None:
    assert isinstance(parse_decision('{"action":"post","title":"T","content":"C","reason":"r"}'), PostAction)
    assert isinstance(parse_decision('{"action":"comment","post_id":3,"content":"C"}'), CommentAction)
    assert isinstance(parse_decision('{"action":"vote","post_id":3,"direction":"down"}'), VoteAction)
    assert isinstance(parse_decision('{"action":"none","reason":"quiet"}'), NoneAction)


@pytest.mark.parametrize("reply", ["HEARTBEAT_OK", "  HEARTBEAT_OK\n", "`HEARTBEAT_OK`", "**HEARTBEAT_OK**."])
def test_bare_heartbeat_ok_is_none(reply: str) -> None:
    assert parse_decision(reply).action == "none"


def test_fenced_json_and_chatter() -> None:
    reply = (
        'Sure! Here is my decision:\n```json\n{"action": "vote", "post_id": 1, "direction": "up", "reason": "good"}'
        "\n```\nHope that helps."
    )
    assert parse_decision(reply) == VoteAction(action="vote", post_id=1, direction="up", reason="good")
    assert parse_decision('I think {"action":"none","reason":"x"} is right').action == "none"


def test_think_blocks_are_ignored() -> None:
    reply = '<think>maybe {"action":"post"} ... no</think>\n{"action":"none","reason":"calm"}'
    assert parse_decision(reply).reason == "calm"


def test_prose_is_invalid() -> None:
    with pytest.raises(InvalidDecision, match="invalid reply"):
        parse_decision("I would post something nice about the weather today.")


def test_two_different_objects_are_ambiguous() -> None:
    with pytest.raises(InvalidDecision, match="2 different JSON objects"):
        parse_decision('{"action":"none"} or {"action":"vote","post_id":1,"direction":"up"}')


def test_empty_reply() -> None:
    with pytest.raises(InvalidDecision, match="returned nothing"):
        parse_decision("  <think>hmm</think> ")


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"action": "post", "title": "x" * 201, "content": "c"}, "title"),
        ({"action": "post", "title": "", "content": "c"}, "title"),
        ({"action": "post", "title": "t", "content": "c" * 5001}, "content"),
        ({"action": "comment", "post_id": 0, "content": "c"}, "post_id"),
        ({"action": "comment", "post_id": True, "content": "c"}, "post_id"),
        ({"action": "vote", "post_id": "1", "direction": "up"}, "post_id"),  # a string: the README-only attack
        ({"action": "comment", "post_id": 2.0, "content": "c"}, "post_id"),
        ({"action": "vote", "post_id": 1, "direction": "sideways"}, "direction"),
        ({"action": "vote", "post_id": 1, "direction": "up", "title": "extra"}, "not allowed"),
        ({"action": "delete_everything"}, "action must be one of"),
        ({"title": "no action"}, "action must be one of"),
    ],
)
def test_schema_violations_are_rejected(obj: dict, match: str) -> None:
    with pytest.raises(InvalidDecision, match=match):
        validate_decision(obj)


def test_null_and_empty_unused_fields_are_tolerated() -> None:
    d = validate_decision({"action": "none", "title": "", "content": None, "post_id": None, "reason": "ok"})
    assert d == NoneAction(action="none", reason="ok")


def test_sanitising() -> None:
    d = validate_decision(
        {"action": "post", "title": "  Hi\x00 <b>there</b>\n", "content": " <script>x</script>\x07\n"}
    )
    # Stored as written (escaping is the job of whatever renders markup): no entities to feed back.
    assert d.title == "Hi <b>there</b>" and d.content == "<script>x</script>"


def test_whitespace_only_title_is_rejected_after_trimming() -> None:
    with pytest.raises(InvalidDecision):
        validate_decision({"action": "post", "title": " \x01 ", "content": "c"})


@settings(max_examples=3000, deadline=None)
@given(st.text(max_size=300))
def test_any_text_either_parses_to_a_valid_decision_or_raises_invalid(text: str) -> None:
    try:
        decision = parse_decision(text)
    except InvalidDecision:
        return
    assert decision.action in ("post", "comment", "vote", "none")


@settings(max_examples=3000, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["action", "title", "content", "post_id", "direction", "reason", "x"]),
        st.none() | st.integers() | st.text(max_size=20) | st.sampled_from(["post", "vote", "none", "up"]),
    )
)
def test_any_object_is_validated_or_rejected(obj: dict) -> None:
    try:
        decision = validate_decision(obj)
    except InvalidDecision:
        return
    if isinstance(decision, PostAction):
        assert 1 <= len(decision.title) <= 200 and 1 <= len(decision.content) <= 5000


def test_raw_newlines_inside_strings_are_accepted_and_sanitised() -> None:
    """llama-cpp-python's server lets a model write a raw newline inside a JSON string."""
    reply = '{"action": "post", "title": "Two\nlines", "content": "first\nsecond\x07", "reason": "r"}'
    assert "\n" in reply and "\\n" not in reply
    decision = parse_decision(reply)
    assert isinstance(decision, PostAction)
    assert decision.title == "Two lines" and decision.content == "first\nsecond"


@pytest.mark.parametrize(
    "reply",
    [
        'HEARTBEAT_OK {"action": "post", "title": "t", "content": "c"}',
        '{"action": "vote", "post_id": 1, "direction": "up"}\n\nHEARTBEAT_OK',
    ],
)
def test_heartbeat_ok_beside_an_action_is_ambiguous(reply: str) -> None:
    with pytest.raises(InvalidDecision, match="ambiguous"):
        parse_decision(reply)


def test_heartbeat_ok_beside_none_or_inside_a_string_is_fine() -> None:
    assert parse_decision('HEARTBEAT_OK {"action": "none", "reason": "r"}').action == "none"
    post = parse_decision('{"action": "post", "title": "t", "content": "no more HEARTBEAT_OK spam", "reason": "r"}')
    assert post.action == "post"


def test_an_empty_title_is_reported_as_empty_not_missing() -> None:
    with pytest.raises(InvalidDecision, match="title: is empty"):
        validate_decision({"action": "post", "title": "", "content": "c", "reason": "r"})
    with pytest.raises(InvalidDecision, match="content: is empty"):
        validate_decision({"action": "post", "title": "t", "content": " \n ", "reason": "r"})
