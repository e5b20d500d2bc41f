"""The decision contract between the model and the app, and everything that guards it.

The model answers with one JSON object:
``{"action": "post"|"comment"|"vote"|"none", "rule", "because", "title", "content", "post_id", "direction",
"reason"}`` carrying only the fields its action needs (`rule` and `because`: core/citations.py). Nothing the
model says is trusted: the reply is parsed (tolerating code fences, chatter around one object, ``<think>``
blocks and a bare ``HEARTBEAT_OK``), validated against a strict per-action schema, sanitised (control
characters stripped, trimmed) and checked against the store (a comment or vote needs a post that exists)
before anything is written.

Text is stored as the model wrote it and escaped where it is *shown* as markup (the feed pane, a
notification body), never at storage: escaped text in the store is fed back to the model in the next
context, the model copies the entities, and each round escapes them again (`&amp;amp;lt;`); every
plain-text reader (the CLI, the API, a table cell) would have to undo it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError

from .citations import BECAUSE_MAX
from .json_keys import RepeatedKey, one_value_per_key
from .refusals import RefusalKind

TITLE_MAX = 200
CONTENT_MAX = 5000
REASON_MAX = 1000
HEARTBEAT_OK = "HEARTBEAT_OK"


class InvalidDecision(ValueError):
    """The reply is not a usable decision. `str()` is the reason recorded on the failed run."""

    kind = "invalid_reply"


class Refused(InvalidDecision):
    """A valid decision the thread's own rules refuse: an action it may not take, past its daily cap, or
    the same post again. The kind (not the reason's wording) tells notifications what to advise."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    reason: str = Field("", max_length=REASON_MAX)
    # What the action follows and why (core/citations.py): a HEARTBEAT.md item's number, the refs of the
    # context items that call for it. Optional here (a server without a schema may leave them out);
    # rule_check decides what an action that cites nothing may do.
    rule: StrictInt | None = Field(None, gt=0)
    because: tuple[StrictStr, ...] = Field((), max_length=BECAUSE_MAX)


class PostAction(_Decision):
    action: Literal["post"]
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    content: str = Field(min_length=1, max_length=CONTENT_MAX)


class CommentAction(_Decision):
    action: Literal["comment"]
    post_id: int = Field(gt=0)
    content: str = Field(min_length=1, max_length=CONTENT_MAX)


class VoteAction(_Decision):
    action: Literal["vote"]
    post_id: int = Field(gt=0)
    direction: Literal["up", "down"]


class NoneAction(_Decision):
    action: Literal["none"]


Decision = Annotated[PostAction | CommentAction | VoteAction | NoneAction, Field(discriminator="action")]
_ADAPTER: TypeAdapter[Decision] = TypeAdapter(Decision)

ACTION_KINDS = ("post", "comment", "vote", "none")

# What a model is *sent* is built per run in `decision_schema.py`; the models above are the final word.


# --------------------------------------------------------------------------- parsing
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_OK_ONLY = re.compile(r"^[\s`'\"*_.]*HEARTBEAT_OK[\s`'\"*_.!]*$", re.I)


_THINK_INNER = re.compile(r"<(think|thinking|reasoning)>(.*?)(?:</\1>|\Z)", re.S | re.I)


def decision_source(content: str, thinking: str | None) -> tuple[str, str | None]:
    """The text to read the decision from, and a notice when it was not the reply itself.

    Thinking models on some servers answer with an empty reply and the JSON in the reasoning field
    (LM Studio's `reasoning_content`, Ollama's `thinking`), or put it inside their `<think>` block. The
    decision is read from there, and the run says so; an empty reply with only prose in the reasoning is
    refused with that reason, not "the model returned nothing"."""
    if _THINK.sub("", content or "").strip():
        return content, None
    inside = "\n".join(m.group(2) for m in _THINK_INNER.finditer(content or ""))
    for where, text in (("its reasoning field", thinking or ""), ("its <think> block", inside)):
        if _json_objects(text)[0]:
            return text, f"the model left its reply empty and put the decision in {where}; it was read from there"
    if thinking and thinking.strip():
        raise InvalidDecision(
            f"invalid reply: the reply was empty; the model wrote only in its reasoning field ({len(thinking)} "
            "characters, no decision): a thinking model may need a larger max_tokens, or use a non-thinking model"
        )
    return content, None


def extract_decision_object(reply: str) -> dict[str, Any]:
    """Find the one decision object in a raw model reply.

    Accepts: a bare ``HEARTBEAT_OK`` (→ ``{"action": "none"}``); a JSON object, optionally inside a code
    fence and/or surrounded by prose; ``<think>…</think>`` blocks before it. Rejects: no object, several
    different objects (ambiguous), ``HEARTBEAT_OK`` beside an object that acts (ambiguous too: "nothing to
    do" and "post this" cannot both be meant), and anything else — with a reason fit for the run log.
    """
    text = _THINK.sub("", reply or "").strip()
    if not text:
        raise InvalidDecision("invalid reply: the model returned nothing")
    if _OK_ONLY.match(text):
        return {"action": "none", "reason": HEARTBEAT_OK}
    candidates = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    found: list[dict[str, Any]] = []
    outside = text
    for chunk in candidates:
        objects, spans = _json_objects(chunk)
        found.extend(objects)
        for start, end in spans:
            outside = outside.replace(chunk[start:end], " ")
    unique = {json.dumps(o, sort_keys=True): o for o in found}
    if len(unique) == 1:
        only = next(iter(unique.values()))
        action = str(only.get("action", "")).strip().lower()
        if action != "none" and re.search(r"\bHEARTBEAT_OK\b", outside, re.I):
            raise InvalidDecision(f"invalid reply: it says HEARTBEAT_OK and also asks for a {action}: ambiguous")
        return only
    if len(unique) > 1:
        raise InvalidDecision(f"invalid reply: {len(unique)} different JSON objects, expected one")
    raise InvalidDecision(f"invalid reply: no JSON object in {_preview(text)}")


def _json_objects(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Top-level JSON objects embedded in text (objects nested inside another one are not counted), and
    where each one is."""
    # strict=False: raw control characters inside strings (a newline in a post) are not JSON, but
    # llama-cpp-python's server emits them (its grammar admits them); they are sanitised afterwards.
    decoder = json.JSONDecoder(strict=False, object_pairs_hook=one_value_per_key)
    objects: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        except RepeatedKey as exc:  # `{"action": "none", "action": "post"}`: Python would keep the last
            raise InvalidDecision(
                f"invalid reply: the key {exc.key!r} appears twice in one object: ambiguous"
            ) from None
        except RecursionError:  # a reply is an invalid reply, not an internal error
            raise InvalidDecision("invalid reply: JSON nested too deeply to read") from None
        except ValueError:  # Python's limit on an integer's digits (4300)
            raise InvalidDecision("invalid reply: a number with thousands of digits") from None
        if isinstance(value, dict):
            objects.append(value)
            spans.append((pos, end))
        pos = text.find("{", end)
    return objects, spans


def validate_decision(obj: Any) -> PostAction | CommentAction | VoteAction | NoneAction:
    """Strict schema check of one decision object, then sanitising. Raises InvalidDecision."""
    if not isinstance(obj, dict):
        raise InvalidDecision("invalid decision: not a JSON object")
    # Models often fill unused fields with null or "" (the grammar lists them all); those carry no
    # meaning and are dropped. A *meaningful* extra field (a title on a vote) is still rejected.
    cleaned = {k: v for k, v in obj.items() if v is not None and v != ""}
    action = cleaned.get("action")
    if isinstance(action, str):
        cleaned["action"] = action.strip().lower()
    if cleaned.get("action") not in ACTION_KINDS:
        raise InvalidDecision(f"invalid decision: action must be one of {', '.join(ACTION_KINDS)}, got {action!r}")
    for key in ("title", "content", "reason"):
        if isinstance(cleaned.get(key), str):
            cleaned[key] = _strip_controls(cleaned[key], keep_newlines=key != "title")
    if cleaned["action"] == "none":  # doing nothing follows nothing: citations on it are noise, not kept
        cleaned.pop("rule", None)
        cleaned.pop("because", None)
    elif isinstance(cleaned.get("because"), list):  # the same ref twice is one citation
        cleaned["because"] = list(dict.fromkeys(r for r in cleaned["because"] if not isinstance(r, list | dict)))
    if "post_id" in cleaned and (isinstance(cleaned["post_id"], bool) or not isinstance(cleaned["post_id"], int)):
        # JSON's own kind only: "1" (a string) is what the schema forbids; pydantic's lax mode would take it.
        raise InvalidDecision("invalid decision: post_id must be an integer")
    try:
        decision = _ADAPTER.validate_python(cleaned)
    except ValidationError as exc:
        # Empty as written, blanks only, or only invisible characters (removed above).
        emptied = {k for k, v in obj.items() if isinstance(v, str) and cleaned.get(k, "") == ""}
        raise InvalidDecision(f"invalid {cleaned['action']} decision: {_describe(exc, emptied)}") from None
    return decision


def parse_decision(reply: str) -> PostAction | CommentAction | VoteAction | NoneAction:
    return validate_decision(extract_decision_object(reply))


# --------------------------------------------------------------------------- sanitising
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_JOINERS = "\u200c\u200d"  # ZWNJ and ZWJ: Persian and Indic words, emoji sequences (👩‍💻) need them
# Letters and marks that draw nothing, though not Cf: Hangul fillers, the Braille blank, the grapheme joiner.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


def whole_text(text: str) -> str:
    """A model's text as Unicode that can be stored and printed. JSON escapes may carry UTF-16 surrogates:
    an emoji split across two stream chunks arrives as two halves, which Python keeps as two code points
    that no UTF-8 writer (SQLite, the terminal, the log) accepts. Halves that pair up are joined; a lone one
    becomes U+FFFD."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _reserved_invisible(char: str) -> bool:
    """Code points Unicode reserves as default-ignorable (drawn as nothing) though no character is assigned
    there yet: U+2065, U+FFF0–FFF8 and the rest of the tag plane's block U+E0000–E0FFF. Not Cf in Python's
    database, so they slipped past; hidden ASCII was spelled in U+E0080+ and a title of U+2065 was "not empty"
    (found by the README-only attack). Variation selectors in that block are handled before this."""
    code = ord(char)
    return code == 0x2065 or 0xFFF0 <= code <= 0xFFF8 or 0xE0000 <= code <= 0xE0FFF


def invisible(char: str) -> bool:
    """Whether `char` draws nothing and is no space: format characters, reserved default-ignorables, the
    blank letters. One definition for a model's text and for what a person adds (a message, a note)."""
    return char in _BLANK or unicodedata.category(char) in ("Cf", "Cc") or _reserved_invisible(char)


def _is_variation_selector(char: str) -> bool:
    return "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef"


def _selects_nothing(kept: list[str]) -> bool:
    """A variation selector picks one glyph of the character before it: emoji or text style (❤️), a CJK
    ideograph's variant, a math symbol's. After an ASCII letter, a space, nothing, or another selector it
    selects nothing and only carries bits: 256 of them spell any byte, and a run of them after a word hid
    "ignore previous instructions" in a post's title (found by the README-only attack)."""
    if not kept:
        return True
    base = kept[-1]
    return base.isspace() or (base.isascii() and base.isalpha()) or _is_variation_selector(base)


def _strip_invisible(text: str) -> str:
    """Format characters (Unicode category Cf) removed: zero-width spaces, word joiners, invisible operators
    (U+2060–2064), bidi controls, BOMs and the tag characters (U+E0000–E007F) that spell hidden ASCII the
    next model would read. A joiner stays only inside a word or an emoji sequence (a visible character on
    each side); at an edge or beside a space it joins nothing and only hides. Variation selectors stay only
    where they select (one, after a character that has variants); a combining mark with nothing to combine
    with (at the start) goes too, so a title of bare accents is empty."""
    kept: list[str] = []
    for i, char in enumerate(text):
        if char in _BLANK:
            continue
        if _is_variation_selector(char):
            if not _selects_nothing(kept):
                kept.append(char)
            continue
        if _reserved_invisible(char):
            continue
        if unicodedata.category(char) in ("Mn", "Me") and (not kept or kept[-1].isspace()):
            continue
        if unicodedata.category(char) != "Cf":
            kept.append(char)
        elif char in _JOINERS and 0 < i < len(text) - 1:
            before, after = text[i - 1], text[i + 1]
            if not (before.isspace() or after.isspace()) and unicodedata.category(
                before
            ) != "Cf" != unicodedata.category(after):
                kept.append(char)
    return "".join(kept)


def _strip_controls(text: str, keep_newlines: bool = True) -> str:
    # NFC first: "Café" typed as e + U+0301 and as é is one text, stored and compared once (the duplicate rule).
    text = unicodedata.normalize("NFC", whole_text(text).replace("\r\n", "\n").replace("\r", "\n"))
    text = _strip_invisible(_CONTROL.sub("", text))
    if not keep_newlines:
        text = re.sub(r"\s+", " ", text)
    return text.strip()


def post_key(title: str, content: str) -> tuple[str, str]:
    """What "the same post" compares (the 24-hour duplicate rule): title and content, case, spacing and
    Unicode normalisation ignored. One definition for the store and the evaluation's in-memory store."""

    def key(text: str) -> str:
        # NFKC as well as case and spacing: canonically equal text is the same post (a model's "Cafe\u0301" is
        # "Café"), and so is text that differs only in compatibility forms (full-width letters, ligatures).
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

    return key(title), key(content)


def decision_to_dict(decision: PostAction | CommentAction | VoteAction | NoneAction) -> dict[str, Any]:
    """The decision as stored and shown: unset fields left out (a decision that cited nothing has no
    `because`), the citations as JSON lists."""
    data = decision.model_dump(exclude_none=True)
    if data.get("because"):
        data["because"] = list(data["because"])
    else:
        data.pop("because", None)
    return data


def _describe(exc: ValidationError, emptied: Collection[str] = ()) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if str(p) not in ACTION_KINDS)
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "not allowed for this action"
        elif loc in emptied and err.get("type") in ("missing", "string_too_short"):
            msg = "is empty"  # the model wrote "" (or blanks): "Field required" would mislead
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _preview(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")
