"""benchmarks/decision_separation.py's arithmetic (its figures go into issue notes) and the held-out suite.

The model part needs a GGUF and minutes of CPU; what is checked here is what turns its odds into figures:
the separation (AUC), the eval-style scoring, and the threshold search that says whether #26's goal is
reachable at all — each would print plausible but wrong numbers if it were off by a comparison.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from heartbeat_desktop.core.eval_suite import Situation, parse_suite
from tests.conftest import REPO

HEARTBEAT_MD = "## Rules\nIf a note is open -> post a question.\n"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("decision_separation", REPO / "benchmarks" / "decision_separation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _benchmark()


def _situations(quiet: int, acting: int, feedback_quiet: int = 0) -> list[Situation]:
    lines = [f'heartbeat_md = """{HEARTBEAT_MD}"""']
    for i in range(quiet):
        rejected = '\nrejected = [{ action = "post", title = "x", how = "undone" }]' if i < feedback_quiet else ""
        lines.append(
            f'[[situations]]\nid = "q{i}"\nnow = "2026-11-27T10:00:00"\nexpect = "none"\n'
            f'messages = [{{ text = "hello {i}" }}]{rejected}'
        )
    for i in range(acting):
        lines.append(
            f'[[situations]]\nid = "a{i}"\nnow = "2026-11-27T10:00:00"\nexpect = "post"\n'
            f'notes = [{{ kind = "contradiction", text = "A vs B {i}" }}]'
        )
    return parse_suite("\n".join(lines), "toml").situations


def _odds(bench: ModuleType, situations: list[Situation], acts: list[float]) -> list:
    return [bench.Odds(s, {"none": 1 - a, "post": a}) for s, a in zip(situations, acts, strict=True)]


def test_separation_is_one_when_a_threshold_splits_them_and_one_half_when_it_cannot(bench: ModuleType) -> None:
    situations = _situations(quiet=3, acting=2)
    assert bench.auc(_odds(bench, situations, [0.1, 0.2, 0.3, 0.8, 0.9])) == 1.0
    assert bench.auc(_odds(bench, situations, [0.5] * 5)) == 0.5
    # one acting situation below one quiet one: 5 of the 6 pairs ordered rightly
    assert bench.auc(_odds(bench, situations, [0.1, 0.2, 0.6, 0.5, 0.9])) == pytest.approx(5 / 6)


def test_the_likeliest_answers_are_scored_as_the_eval_scores_them(bench: ModuleType) -> None:
    situations = _situations(quiet=4, acting=2, feedback_quiet=2)
    odds = _odds(bench, situations, [0.7, 0.2, 0.2, 0.2, 0.9, 0.4])
    figures = bench.score(odds, [o.choice() for o in odds], [])
    assert figures.right == pytest.approx(100 * 4 / 6)  # q0 acted falsely, a1 stayed quiet
    assert figures.false == 25.0 and figures.feedback == 50.0  # q0 is a feedback situation


def test_situations_not_asked_count_as_the_apps_own_none(bench: ModuleType) -> None:
    situations = _situations(quiet=2, acting=1)
    odds = _odds(bench, situations[1:], [0.1, 0.9])
    figures = bench.score(odds, [o.choice() for o in odds], [situations[0]])
    assert figures.right == 100.0 and figures.false == 0.0


def test_the_threshold_search_says_whether_any_threshold_meets_the_goal(bench: ModuleType) -> None:
    situations = _situations(quiet=6, acting=4)
    separable = _odds(bench, situations, [0.1] * 6 + [0.6, 0.7, 0.8, 0.9])
    t, best, reachable = bench.best_threshold(separable, [])
    assert reachable and best.false == 0.0 and best.right == 100.0 and 0.1 < t <= 0.6
    # every acting situation below every quiet one: acting at all costs false actions; never acting scores
    # 60 % right, 0 % false — the goal's figures without a single right action
    inverted = _odds(bench, situations, [0.9] * 6 + [0.1, 0.2, 0.3, 0.4])
    t, best, reachable = bench.best_threshold(inverted, [])
    assert best.right == 60.0 and best.false == 0.0 and t > 0.9
    assert reachable  # no feedback situation here: the goal's third part does not bite
    # the same with earlier feedback on an acting situation: never acting gets it wrong (0 of 1 right), and
    # acting on it means acting on every quiet one too
    rejected = (
        parse_suite(
            f'heartbeat_md = """{HEARTBEAT_MD}"""\n[[situations]]\nid = "f"\nnow = "2026-11-27T10:00:00"\n'
            'expect = "none"\nrejected = [{ action = "post", title = "x", how = "undone" }]',
            "toml",
        )
        .situations[0]
        .rejected
    )
    fed = [
        bench.Odds(o.situation.model_copy(update={"rejected": rejected}), o.p) if o.situation.id == "a0" else o
        for o in inverted
    ]
    t, best, reachable = bench.best_threshold(fed, [])
    assert best.feedback == 0.0 and not reachable


def test_only_the_offered_actions_are_read_from_a_request(bench: ModuleType) -> None:
    one = {"format": {"type": "object", "properties": {"action": {"const": "none"}}}}
    assert bench.offered(one) == ["none"]
    two = {"format": {"anyOf": [{"properties": {"action": {"const": a}}} for a in ("none", "vote")]}}
    assert bench.offered(two) == ["none", "vote"]


def test_the_held_out_suite_parses_and_keeps_the_built_in_heartbeat_md() -> None:
    held_out = parse_suite((REPO / "benchmarks" / "suites" / "held-out.toml").read_text(encoding="utf-8"), "toml")
    built_in = parse_suite((REPO / "resources" / "eval-suite.toml").read_text(encoding="utf-8"), "toml")
    assert held_out.heartbeat_md == built_in.heartbeat_md  # its `rule` numbers are the built-in suite's
    assert len(held_out.situations) == 16
    assert not {s.id for s in held_out.situations} & {s.id for s in built_in.situations}
    assert sum(s.calls_for_nothing for s in held_out.situations) == 10
    assert sum(s.has_feedback for s in held_out.situations) == 4
