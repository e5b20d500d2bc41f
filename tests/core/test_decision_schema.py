"""The per-run decision schema: what is offered, and the shapes sent to each kind of server.

Whether llama.cpp compiles every shape is proven against the real engine in
tests/real_model/test_real_engines.py; these tests pin the rules each shape must follow.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.decision_schema import (
    SENT_TEXT_MAX,
    DecisionSchema,
    max_length_sent,
    unwrap,
)
from heartbeat_desktop.core.prompt import describe_actions

ALLOWED_SETS = [combo for n in range(4) for combo in itertools.combinations(("post", "comment", "vote"), n)]


def offered(shape: dict[str, Any]) -> list[str]:
    branches = shape["anyOf"] if "anyOf" in shape else [shape]
    return [b["properties"]["action"].get("const") or b["properties"]["action"]["enum"][0] for b in branches]


def objects(schema: Any) -> list[dict[str, Any]]:
    """Every object schema inside `schema`."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found.extend(objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(objects(value))
    return found


def keywords(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = set(schema) - ({"properties"} if "properties" in schema else set())
        nested = [keywords(v) for k, v in schema.items() if k != "properties"]
        nested += [keywords(v) for v in schema.get("properties", {}).values()]
        return own.union(*nested) if nested else own
    if isinstance(schema, list):
        return set().union(*(keywords(v) for v in schema)) if schema else set()
    return set()


def test_only_what_the_thread_may_do_now_is_offered() -> None:
    full = DecisionSchema.for_run(("post", "comment", "vote"), [4, 2, 4], posts_left=3)
    assert full.actions == ("none", "post", "comment", "vote") and full.post_ids == (2, 4)
    assert offered(full.for_ollama()) == ["none", "post", "comment", "vote"]

    no_posts = DecisionSchema.for_run(("post", "comment", "vote"), [], posts_left=3)
    assert offered(no_posts.for_ollama()) == ["none", "post"]
    assert ("comment", "there are no feed posts to refer to") in no_posts.withheld

    capped = DecisionSchema.for_run(("post", "vote"), [9], posts_left=0)
    assert offered(capped.for_ollama()) == ["none", "vote"]
    assert dict(capped.withheld) == {
        "post": "the daily post limit is reached",
        "comment": "not allowed for this thread",
    }

    nothing = DecisionSchema.for_run((), [1, 2], posts_left=5)
    assert nothing.for_ollama()["properties"]["action"] == {"const": "none"}  # one branch: no anyOf at all
    assert "anyOf" not in nothing.for_ollama()


def test_post_id_is_limited_to_the_posts_shown() -> None:
    schema = DecisionSchema.for_run(("comment", "vote"), [7, 3], posts_left=0)
    for shape in (
        schema.for_ollama(),
        unwrap_schema(schema.for_anthropic()),
        unwrap_schema(schema.for_openai_strict()),
    ):
        for branch in shape["anyOf"]:
            if "post_id" in branch["properties"]:
                assert branch["properties"]["post_id"]["enum"] == [3, 7]


def unwrap_schema(shape: dict[str, Any]) -> dict[str, Any]:
    assert shape["type"] == "object" and shape["required"] == ["decision"]
    return shape["properties"]["decision"]


def test_each_action_requires_its_fields_and_nothing_else() -> None:
    shape = DecisionSchema.everything([1]).for_ollama()
    by_action = {b["properties"]["action"]["const"]: b for b in shape["anyOf"]}
    assert by_action["post"]["required"] == ["action", "title", "content", "reason"]
    assert by_action["comment"]["required"] == ["action", "post_id", "content", "reason"]
    assert by_action["vote"]["required"] == ["action", "post_id", "direction", "reason"]
    assert by_action["none"]["required"] == ["action", "reason"]
    assert all(b["additionalProperties"] is False for b in by_action.values())
    assert by_action["post"]["properties"]["title"]["minLength"] == 1


@settings(max_examples=300, deadline=None)
@given(
    allowed=st.sampled_from(ALLOWED_SETS),
    ids=st.lists(st.integers(min_value=1, max_value=10**9), max_size=20),
    posts_left=st.integers(min_value=0, max_value=200),
)
def test_no_shape_sends_a_length_llama_cpp_refuses(allowed, ids, posts_left) -> None:
    """llama.cpp's grammar parser refuses repetitions from about 2000 up: nothing sent goes over 1000."""
    schema = DecisionSchema.for_run(allowed, ids, posts_left)
    for name, shape in schema.shapes().items():
        assert max_length_sent(shape) <= SENT_TEXT_MAX, name
        json.dumps(shape)


@pytest.mark.parametrize("allowed", ALLOWED_SETS)
def test_openai_strict_shape_follows_strict_mode_rules(allowed) -> None:
    """Strict structured outputs: an object at the root, every property required, additionalProperties
    false on every object, no length keywords or const, and no two anyOf objects with the same first key."""
    shape = DecisionSchema.for_run(allowed, [1, 2], posts_left=1).for_openai_strict()
    assert shape["type"] == "object" and "anyOf" not in shape
    for obj in objects(shape):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert not keywords(shape) & {"maxLength", "minLength", "const", "minimum"}
    choice = shape["properties"]["decision"]
    branches = choice.get("anyOf", [choice])
    firsts = [next(iter(b["properties"])) for b in branches]
    assert len(firsts) == len(set(firsts))


def test_anthropic_shape_has_an_object_root_around_the_same_choice() -> None:
    schema = DecisionSchema.everything([5])
    assert unwrap_schema(schema.for_anthropic()) == schema.for_ollama()


def test_unwrap_only_takes_the_wrapper_apart() -> None:
    inner = {"action": "none", "reason": "r"}
    assert unwrap({"decision": inner}) == inner
    assert unwrap(inner) is inner
    assert unwrap({"decision": inner, "extra": 1}) == {"decision": inner, "extra": 1}
    assert unwrap({"decision": "text"}) == {"decision": "text"}


def test_the_prompt_describes_exactly_the_offered_actions() -> None:
    text = describe_actions(DecisionSchema.for_run(("comment",), [12, 5], posts_left=4))
    assert '"comment"' in text and "post_id (one of: 5, 12)" in text
    assert '"post": publish' not in text and '"vote": vote' not in text
    assert "post (not allowed for this thread)" in text and "vote (not allowed for this thread)" in text
    assert f"content (1-{SENT_TEXT_MAX} characters)" in text
