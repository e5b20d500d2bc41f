"""The decision schema a model is given, built for each run, in the shape each kind of server accepts.

Why per run and not one fixed schema: a weak local model fills whatever the grammar allows. A flat
object (every field optional, `action` an enum) let SmolLM2-135M write posts with a `direction`, posts
without a title, votes on posts that do not exist — about one decision in twelve was valid. A
discriminated schema — `anyOf` one object per action, `action` a constant, each action's fields
required, nothing else allowed — made the grammar itself rule those out, and only the actions this
thread may take *now* are offered: a thread that may not vote is never offered a vote, a thread at its
daily post cap is not offered a post, and comment and vote exist only when the context shows posts,
with `post_id` limited to the ids shown.

Why lengths are capped at `SENT_TEXT_MAX`: llama.cpp (the engine under Ollama and LM Studio) turns the
schema into a grammar in which `maxLength: N` becomes a repetition `{0,N}`; its grammar parser refuses
repetitions from about 2000 up, and the server then fails every request. The real limits (a post's
5000 characters) are still enforced afterwards by `actions.validate_decision`.

The shapes (see `DecisionSchema`):
- `for_ollama()`: the `anyOf` itself, as Ollama's `format` (also llama.cpp's `json_object` + schema).
- `for_openai_strict()`: OpenAI's strict structured outputs want an *object* at the root, every
  property required, `additionalProperties: false` everywhere, no length keywords, and the objects of
  an `anyOf` must not all start with the same key. The choice is wrapped as `{"decision": …}` and each
  action's object leads with a key only it has.
- `for_openai_bounded()`: the strict shape with the length keywords put back, asked first of every
  OpenAI-compatible server but OpenAI's own (llm/openai_client.py). llama.cpp's server, LM Studio and vLLM
  build a grammar from it and enforce the lengths; without them a small model on llama-server wrote a
  reason past 1000 tokens and the reply was cut off. A server that refuses the keywords gets the strict
  shape next (the output-format ladder).
- `for_anthropic()`: a tool's `input_schema` must be an object: the same `{"decision": …}` wrapper.
`unwrap()` turns a wrapped answer back into the decision object; the clients call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .actions import CONTENT_MAX, REASON_MAX, TITLE_MAX
from .citations import BECAUSE_MAX

SENT_TEXT_MAX = 1000
"""No `maxLength` sent to a server exceeds this (llama.cpp's grammar parser refuses ~2000 and up)."""
SENT_REASON_MAX = 300
"""A reason is a sentence. Bounding it keeps the longest reply the grammar allows (title, content and
reason at their limits, about 1500 characters) within the default 500 tokens, so a model that rambles
in every field still finishes its object instead of being cut off mid-string."""

WRAPPER_KEY = "decision"
ACTION_ORDER = ("none", "post", "comment", "vote")

# Field order inside each action's object. llama.cpp keeps the declared order, so the model writes the
# action first, then what it follows and why (`rule`, `because`: core/citations.py), then its fields: the
# choice and its grounds come before the text they commit to.
_FIELDS: dict[str, tuple[str, ...]] = {
    "none": ("action", "reason"),
    "post": ("action", "rule", "because", "title", "content", "reason"),
    "comment": ("action", "rule", "because", "post_id", "content", "reason"),
    "vote": ("action", "rule", "because", "post_id", "direction", "reason"),
}
# For OpenAI's strict mode the objects of an anyOf must not share their first key: each leads with one
# that only it has. (Which branch is taken is then decided by that first key.)
_STRICT_FIRST = {"none": "reason", "post": "title", "comment": "content", "vote": "direction"}


def _text(limit: int, *, lengths: bool, min_length: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if lengths:
        if min_length:
            schema["minLength"] = min_length
        schema["maxLength"] = min(limit, SENT_TEXT_MAX)
    return schema


@dataclass(frozen=True)
class DecisionSchema:
    """What this run may answer: the offered actions ("none" always) and the post ids a target may be."""

    actions: tuple[str, ...]
    post_ids: tuple[int, ...] = ()
    # Actions left out, each with why (the prompt tells the model, so it does not try them in prose).
    withheld: tuple[tuple[str, str], ...] = ()
    # What an action may cite (core/citations.py): HEARTBEAT.md's item numbers, the refs of the items shown.
    # Empty: the field is not asked for (a run replayed from before #26, a file with no items).
    rules: tuple[int, ...] = ()
    refs: tuple[str, ...] = ()

    @classmethod
    def for_run(
        cls,
        allowed: Iterable[str],
        post_ids: Iterable[int],
        posts_left: int,
        left: Mapping[str, int] | None = None,
        *,
        rules: Iterable[int] = (),
        refs: Iterable[str] = (),
        task: bool = False,
    ) -> DecisionSchema:
        """Offer only what this thread may do now: its allow-list, its daily caps (`posts_left`, and `left`
        for every action when given), the posts it can see; an action cites one of `rules` and some `refs`.
        `task`: a scheduled task's run, which may only post; its comment and vote are withheld because of the
        task, not the thread (the model is told the true reason, not "not allowed for this thread")."""
        allowed = set(allowed)
        remaining = {"post": posts_left, **(left or {})}
        ids = tuple(sorted(dict.fromkeys(int(i) for i in post_ids)))
        offered = ["none"]
        withheld: list[tuple[str, str]] = []
        for action in ("post", "comment", "vote"):
            if task and action != "post":
                withheld.append((action, "not available for a scheduled task"))
            elif action not in allowed:
                withheld.append((action, "not allowed for this thread"))
            elif remaining.get(action, 1) <= 0:
                withheld.append((action, f"the daily {action} limit is reached"))
            elif action != "post" and not ids:
                withheld.append((action, "there are no feed posts to refer to"))
            else:
                offered.append(action)
        return cls(tuple(offered), ids, tuple(withheld), tuple(rules), tuple(dict.fromkeys(refs)))

    @classmethod
    def everything(cls, post_ids: Iterable[int] = ()) -> DecisionSchema:
        """Every action offered (comment and vote only with post ids): what an unrestricted thread sees."""
        return cls.for_run(("post", "comment", "vote"), post_ids, posts_left=1)

    def offers(self, action: str) -> bool:
        return action in self.actions

    # ------------------------------------------------------------------ the branches
    def _properties(self, action: str, *, lengths: bool, const: bool) -> dict[str, Any]:
        field: dict[str, dict[str, Any]] = {
            "action": {"const": action} if const else {"type": "string", "enum": [action]},
            "title": _text(TITLE_MAX, lengths=lengths, min_length=1),
            "content": _text(CONTENT_MAX, lengths=lengths, min_length=1),
            "post_id": {"type": "integer", "enum": list(self.post_ids)},
            "direction": {"type": "string", "enum": ["up", "down"]},
            "reason": _text(min(REASON_MAX, SENT_REASON_MAX), lengths=lengths),
            "rule": {"type": "integer", "enum": list(self.rules)},
            "because": self._because(lengths=lengths),
        }
        return {name: field[name] for name in _FIELDS[action] if self._asks(name)}

    def _asks(self, name: str) -> bool:
        return (name != "rule" or bool(self.rules)) and (name != "because" or bool(self.refs))

    def _because(self, *, lengths: bool) -> dict[str, Any]:
        """At least one ref, at most BECAUSE_MAX, where the server takes lengths (a grammar then makes a
        model cite something); OpenAI's strict mode takes neither keyword, and rule_check counts instead."""
        schema: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": list(self.refs)}}
        if lengths:
            schema["minItems"], schema["maxItems"] = 1, BECAUSE_MAX
        return schema

    def _branch(self, action: str, *, lengths: bool = True, const: bool = True, strict: bool = False) -> dict[str, Any]:
        properties = self._properties(action, lengths=lengths, const=const)
        if strict:
            first = _STRICT_FIRST[action]
            properties = {first: properties[first], **{k: v for k, v in properties.items() if k != first}}
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    def _choice(self, **kw: Any) -> dict[str, Any]:
        branches = [self._branch(a, **kw) for a in ACTION_ORDER if a in self.actions]
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    # ------------------------------------------------------------------ the shapes servers accept
    def for_ollama(self) -> dict[str, Any]:
        """Ollama's `format` (and a llama.cpp `json_object` schema): the choice itself."""
        return self._choice()

    def for_openai_strict(self) -> dict[str, Any]:
        """OpenAI `response_format: json_schema` with `strict: true` (see the module docstring)."""
        return _wrap(self._choice(lengths=False, const=False, strict=True))

    def for_openai_bounded(self) -> dict[str, Any]:
        """The strict shape with `maxLength` (see the module docstring): for servers that build a grammar."""
        return _wrap(self._choice(const=False, strict=True))

    def for_anthropic(self) -> dict[str, Any]:
        """Anthropic tool `input_schema`: an object at the root."""
        return _wrap(self._choice())

    def shapes(self) -> dict[str, dict[str, Any]]:
        """Every shape this schema is ever sent in, by name (the grammar test compiles each)."""
        return {
            "ollama": self.for_ollama(),
            "openai_strict": self.for_openai_strict(),
            "openai_bounded": self.for_openai_bounded(),
            "anthropic": self.for_anthropic(),
        }

    def describe_post_ids(self) -> str:
        return ", ".join(str(i) for i in self.post_ids)


def _wrap(choice: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {WRAPPER_KEY: choice},
        "required": [WRAPPER_KEY],
        "additionalProperties": False,
    }


def unwrap(value: Any) -> Any:
    """The decision inside a `{"decision": {…}}` answer; anything else is returned as it is."""
    if isinstance(value, dict) and set(value) == {WRAPPER_KEY} and isinstance(value[WRAPPER_KEY], dict):
        return value[WRAPPER_KEY]
    return value


def max_length_sent(schema: Any) -> int:
    """The largest `maxLength` anywhere in a schema (0 if none): what a grammar engine must repeat."""
    if isinstance(schema, dict):
        own = schema.get("maxLength", 0) if isinstance(schema.get("maxLength", 0), int) else 0
        return max([own, *(max_length_sent(v) for v in schema.values())])
    if isinstance(schema, list):
        return max([0, *(max_length_sent(v) for v in schema)])
    return 0
