"""Every schema the app can send, in the grammar engines of the servers users run (#24 item 6).

llama.cpp's engine (Ollama, LM Studio, llama-server) is proven in test_real_engines.py and
test_llama_server.py. vLLM and SGLang constrain with xgrammar, llguidance or outlines-core; these tests run
all three on the same matrix (allow-lists × posts shown × caps × every provider shape):

- xgrammar (`GrammarMatcher`), token by token over a byte vocabulary (each byte a token, so any text can be
  fed; what a model's vocabulary adds is only which bytes travel together);
- llguidance (`LLMatcher`), at the token level, with SmolLM2-135M's own vocabulary;
- outlines-core: the regular expression `build_regex_from_schema` makes of each shape — what its token
  index is compiled from — matched with Python's `re`. The index itself is not built here: for the shapes
  with 1000-character lengths it takes minutes per shape on this machine.

Compiling is not enough: an engine that turns a schema into "any object" (reported of xgrammar for an
object with `required` but no `properties`; not seen in the pinned 0.2.9) compiles everything. So each
engine must accept a valid decision of every kind the schema offers and refuse an action it does not offer
and a post it did not show; an engine made deliberately lenient, or strict, shows that the check fails.

The engines are registry packages used only here: llguidance and outlines-core in the test extras,
xgrammar (which imports torch and transformers) installed by packaging/dev-env.sh with torch's CPU build.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from heartbeat_desktop.core.decision_schema import DecisionSchema
from tests.real_model.conftest import _require_engine
from tests.support.llama_engine import model_path

pytestmark = pytest.mark.real_model

ACTIONS = ("post", "comment", "vote")
ALLOWED_SETS = [combo for n in range(4) for combo in itertools.combinations(ACTIONS, n)]
POST_IDS = [(), (1,), tuple(range(1, 16))]
VALUES = {
    "reason": "It was asked.",
    "title": "Call Ana",
    "content": "About the garden.",
    "direction": "up",
    "rule": 2,
    "because": ["m4", "p1"],
}
# What an action may cite (core/citations.py): nothing (a file without items, an empty context), or items and refs.
CITES: list[tuple[tuple[int, ...], tuple[str, ...]]] = [((), ()), ((1, 2, 3), ("m4", "n2", "p1"))]
UNSHOWN = {"rule": 7, "because": ["m5"]}  # a citation the run did not show

Accepts = Callable[[dict[str, Any], str], bool]


def every_shape() -> Iterator[tuple[str, tuple[str, ...], tuple[int, ...], dict[str, Any]]]:
    """(shape name, actions offered, post ids shown, shape) for each distinct schema the app can send."""
    seen: set[str] = set()
    for allowed, ids, posts_left, (rules, refs) in itertools.product(ALLOWED_SETS, POST_IDS, (0, 3), CITES):
        schema = DecisionSchema.for_run(allowed, ids, posts_left, rules=rules, refs=refs)
        for name, shape in schema.shapes().items():
            key = json.dumps(shape, sort_keys=True)
            if key not in seen:
                seen.add(key)
                yield name, tuple(schema.actions), tuple(schema.post_ids), shape


def _branches(shape: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """(wrapped in {"decision": …}, one object schema per action)."""
    wrapped = "decision" in shape.get("properties", {})
    choice = shape["properties"]["decision"] if wrapped else shape
    return wrapped, choice.get("anyOf", [choice])


def _action(branch: dict[str, Any]) -> str:
    spec = branch["properties"]["action"]
    return spec["const"] if "const" in spec else spec["enum"][0]


def decision(branch: dict[str, Any], post_id: int, action: str | None = None, **changed: Any) -> dict[str, Any]:
    """A decision with the keys in the branch's order (the engines emit properties in declared order)."""
    values = {**VALUES, "action": action or _action(branch), "post_id": post_id, **changed}
    return {key: values[key] for key in branch["properties"]}


def text(value: dict[str, Any], wrapped: bool) -> str:
    return json.dumps({"decision": value} if wrapped else value, ensure_ascii=False, separators=(",", ":"))


def full_branches(name: str) -> dict[str, dict[str, Any]]:
    """Each action's branch in a schema offering everything: the shape of an action some run does not offer."""
    _, branches = _branches(DecisionSchema.for_run(ACTIONS, (1, 2), 3).shapes()[name])
    return {_action(b): b for b in branches}


def check_engine(accepts: Accepts) -> list[str]:
    """What the engine got wrong over the whole matrix (empty: nothing)."""
    wrong: list[str] = []
    for name, offered, ids, shape in every_shape():
        wrapped, branches = _branches(shape)
        shown = ids[0] if ids else 1
        for branch in branches:
            good = text(decision(branch, shown), wrapped)
            if not accepts(shape, good):
                wrong.append(f"{name} {offered} {ids}: refused the valid {good}")
        if ids:  # a post it did not show
            for branch in branches:
                if "post_id" in branch["properties"]:
                    bad = text(decision(branch, max(ids) + 1), wrapped)
                    if accepts(shape, bad):
                        wrong.append(f"{name} {offered} {ids}: accepted {bad}")
        for branch in branches:  # a citation it did not show, or none where the grammar can ask for one
            for key, value in UNSHOWN.items():
                if key in branch["properties"]:
                    bad = text(decision(branch, shown, **{key: value}), wrapped)
                    if accepts(shape, bad):
                        wrong.append(f"{name} {offered} {ids}: accepted {bad}")
            if "minItems" in branch["properties"].get("because", {}):
                bad = text(decision(branch, shown, because=[]), wrapped)
                if accepts(shape, bad):
                    wrong.append(f"{name} {offered} {ids}: accepted {bad}")
        for action in set(ACTIONS) - set(offered):  # an action it did not offer
            bad = text(decision(full_branches(name)[action], shown), wrapped)
            if accepts(shape, bad):
                wrong.append(f"{name} {offered} {ids}: accepted {bad}")
    return wrong


# --------------------------------------------------------------------------- the engines
@pytest.fixture(scope="module")
def xgrammar_accepts() -> Accepts:
    try:
        import xgrammar
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"xgrammar must run in CI (packaging/dev-env.sh installs it): {exc}")
        pytest.skip(f"xgrammar is not installed (packaging/dev-env.sh installs it): {exc}")
    eos = 0
    vocab = [b"<eos>"] + [bytes([i]) for i in range(256)]
    info = xgrammar.TokenizerInfo(vocab, vocab_type=xgrammar.VocabType.RAW, stop_token_ids=[eos])
    compiler = xgrammar.GrammarCompiler(info)
    grammars: dict[str, Any] = {}

    def accepts(shape: dict[str, Any], candidate: str) -> bool:
        key = json.dumps(shape)
        if key not in grammars:
            grammars[key] = compiler.compile_json_schema(key)
        matcher = xgrammar.GrammarMatcher(grammars[key])
        for byte in candidate.encode():
            if not matcher.accept_token(byte + 1):
                return False
        return bool(matcher.accept_token(eos))  # the grammar may end here

    return accepts


@pytest.fixture(scope="module")
def llguidance_accepts() -> Accepts:
    _require_engine()
    llama_cpp = pytest.importorskip("llama_cpp")
    llguidance = pytest.importorskip("llguidance")
    from_llama_cpp = pytest.importorskip("llguidance.llamacpp")

    gguf = model_path()
    assert gguf is not None
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), params)
    with warnings.catch_warnings():  # llguidance reads each token's attributes through a deprecated alias
        warnings.simplefilter("ignore", DeprecationWarning)
        tokenizer = from_llama_cpp.lltokenizer_from_vocab(llama_cpp.llama_model_get_vocab(model))
    grammars: dict[str, str] = {}

    def accepts(shape: dict[str, Any], candidate: str) -> bool:
        key = json.dumps(shape)
        if key not in grammars:
            grammars[key] = llguidance.LLMatcher.grammar_from_json_schema(key)
        matcher = llguidance.LLMatcher(tokenizer, grammars[key])
        assert not matcher.is_error(), matcher.get_error()
        tokens = tokenizer.tokenize_str(candidate)
        return matcher.try_consume_tokens(tokens) == len(tokens) and matcher.is_accepting()

    return accepts


@pytest.fixture(scope="module")
def outlines_accepts() -> Accepts:
    json_schema = pytest.importorskip("outlines_core.json_schema")
    patterns: dict[str, re.Pattern[str]] = {}

    def accepts(shape: dict[str, Any], candidate: str) -> bool:
        key = json.dumps(shape)
        if key not in patterns:
            patterns[key] = re.compile(json_schema.build_regex_from_schema(key))
        return patterns[key].fullmatch(candidate) is not None

    return accepts


def test_the_matrix_covers_every_shape_the_app_sends() -> None:
    shapes = list(every_shape())
    assert {name for name, *_ in shapes} == {"ollama", "openai_strict", "openai_bounded", "anthropic"}
    # 112 today: 8 allow-lists x 3 post sets x 2 caps x 2 citation sets x 4 shapes, minus those that coincide
    assert len(shapes) >= 100


def test_xgrammar_enforces_every_schema_the_app_can_send(xgrammar_accepts: Accepts) -> None:
    assert check_engine(xgrammar_accepts) == []


def test_llguidance_enforces_every_schema_the_app_can_send(llguidance_accepts: Accepts) -> None:
    assert check_engine(llguidance_accepts) == []


def test_outlines_core_enforces_every_schema_the_app_can_send(outlines_accepts: Accepts) -> None:
    assert check_engine(outlines_accepts) == []


def test_the_check_fails_an_engine_that_accepts_too_much(llguidance_accepts: Accepts) -> None:
    """The xgrammar failure mode: a schema compiled to "any object". Fed through the same check, it is
    caught (every invalid decision accepted)."""

    def anything(_shape: dict[str, Any], candidate: str) -> bool:
        return llguidance_accepts({"type": "object"}, candidate)

    wrong = check_engine(anything)
    assert wrong and all("accepted" in line for line in wrong)
    assert any("comment" in line and '"post_id":2' in line for line in wrong)  # a post it did not show


def test_the_check_fails_an_engine_that_refuses_what_is_valid(outlines_accepts: Accepts) -> None:
    def too_strict(shape: dict[str, Any], candidate: str) -> bool:
        return outlines_accepts(shape, candidate) and '"action":"post"' not in candidate

    assert any("refused the valid" in line and '"post"' in line for line in check_engine(too_strict))
