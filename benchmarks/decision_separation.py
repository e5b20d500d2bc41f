"""How well a model tells the situations that call for an action from those that do not (#26), per prompt.

`decision_quality.py` samples one answer per question: on a model that is unsure, which side of a coin a
situation lands on decides its figures, and a change to the prompt that moves every situation a little
toward "none" looks like better judgement. This benchmark reads the model's own odds instead. For each
situation of a suite it builds the request the app sends (the app's own code, through its own client, to
the tests' recording Ollama-protocol server), renders it with the model's chat template, and asks the
real engine (llama.cpp) for the probabilities of the decision's first choice — the token after
`{"action": "` — over the actions that request offers (the grammar allows no others).

It prints, measured:
- per situation, P(none), P(post), P(comment), P(vote);
- separation: the AUC of P(act) = 1 - P(none) between the situations where acting is right and those where
  only "none" is (0.5: the model cannot tell them apart; 1.0: some threshold separates them all). Wording
  that only shifts every situation the same way leaves it unchanged;
- the model's likeliest answers (temperature 0) scored as the eval scores them, by the action's kind: right
  action, false action, feedback right (a comment or vote counts right whatever post it names, so this is an
  upper bound on right action);
- the best any threshold on P(act) can do — act only where P(act) >= t, with the likeliest acting kind —
  and whether some threshold meets issue #26's goal (false action <= 15 % with right action >= 60 %, and
  >= 80 % of the feedback situations right): if none does, no wording that only moves the model toward or
  away from acting can meet it on this model;
- the "never act" policy's figures on the same suite, for scale.

    python benchmarks/decision_separation.py                       # SmolLM2-135M, the built-in suite
    python benchmarks/decision_separation.py --model qwen.gguf --suite benchmarks/suites/held-out.toml
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_desktop import wiring  # noqa: E402
from heartbeat_desktop.core.eval_suite import Situation, Suite  # noqa: E402
from heartbeat_desktop.core.evaluation import EvalSettings, evaluate  # noqa: E402
from heartbeat_desktop.store import SqliteStore  # noqa: E402
from tests.support.llama_engine import model_path  # noqa: E402
from tests.support.ollama_server import OllamaServer  # noqa: E402

ACTIONS = ("none", "post", "comment", "vote")
OPENING = '{"action": "'  # what the grammar makes every decision start with, in direct mode


@dataclass
class Odds:
    situation: Situation
    p: dict[str, float]  # over the offered actions, summing to 1

    @property
    def quiet(self) -> bool:
        return self.situation.calls_for_nothing

    @property
    def act(self) -> float:
        return 1.0 - self.p.get("none", 0.0)

    def choice(self, threshold: float | None = None) -> str:
        """The likeliest action; with a threshold, the likeliest acting kind where P(act) >= threshold."""
        if threshold is None:
            return max(self.p, key=lambda a: self.p[a])
        acting = {a: v for a, v in self.p.items() if a != "none"}
        return max(acting, key=lambda a: acting[a]) if acting and self.act >= threshold else "none"

    def right(self, choice: str) -> bool:
        return choice in kinds(self.situation)


def kinds(situation: Situation) -> set[str]:
    """The actions a situation accepts, whatever their targets."""
    return {e.action for e in situation.expect}


def requests(suite: Suite, heartbeat_md: str | None) -> list[tuple[Situation, dict[str, Any]]]:
    """The request the app sends for each situation it asks a model about (direct mode), as sent."""
    server = OllamaServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "heartbeat.db")
            store.settings.set("ollama_host", server.url)
            router = wiring.make_router(store, Path(tmp))
            settings = EvalSettings(llm_timeout_s=60, context_tokens=4096, default_heartbeat_md=heartbeat_md)
            [summary] = evaluate(suite, ["llama3.2:latest"], ["direct"], router, settings)
            store.close()
        sent = [r.body for r in server.chat_requests()]
    finally:
        server.stop()
    asked = [r.situation for r in summary.results if r.llm_ms is not None]
    if len(asked) != len(sent):
        raise SystemExit(f"{len(asked)} situations asked but {len(sent)} requests recorded")
    return list(zip(asked, sent, strict=True))


def offered(body: dict[str, Any]) -> list[str]:
    """The actions the request's format allows (the first field of each of its branches)."""
    fmt = body["format"]
    return [branch["properties"]["action"]["const"] for branch in fmt.get("anyOf", [fmt])]


class Model:
    """The GGUF on llama.cpp, asked only for the odds of the first token after the decision's opening."""

    def __init__(self, gguf: Path, threads: int) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads, verbose=False, seed=1)
        meta = self.llm.metadata
        eos = self.llm.detokenize([self.llm.token_eos()]).decode(errors="replace")
        bos = self.llm.detokenize([self.llm.token_bos()]).decode(errors="replace")
        self.template = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=eos, bos_token=bos)
        self.first = {a: self.llm.tokenize(a.encode(), add_bos=False, special=False)[0] for a in ACTIONS}
        if len(set(self.first.values())) != len(ACTIONS):
            raise SystemExit(f"the actions' first tokens are not distinct on this model: {self.first}")

    def odds(self, body: dict[str, Any]) -> dict[str, float]:
        import numpy as np

        prompt = self.template(messages=body["messages"]).prompt + OPENING
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        self.llm.reset()
        self.llm.eval(tokens)
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))
        allowed = offered(body)
        raw = {a: float(logits[self.first[a]]) for a in allowed}
        top = max(raw.values())
        weights = {a: float(np.exp(v - top)) for a, v in raw.items()}
        total = sum(weights.values())
        return {a: weights[a] / total for a in allowed}


def auc(odds: list[Odds]) -> float:
    acting = [o.act for o in odds if not o.quiet]
    quiet = [o.act for o in odds if o.quiet]
    if not acting or not quiet:
        return float("nan")
    wins = sum((a > q) + 0.5 * (a == q) for a in acting for q in quiet)
    return wins / (len(acting) * len(quiet))


@dataclass
class Figures:
    right: float
    false: float
    feedback: float | None

    def meets(self) -> bool:
        return self.false <= 15 and self.right >= 60 and (self.feedback is None or self.feedback >= 80)

    def text(self) -> str:
        fb = "—" if self.feedback is None else f"{self.feedback:.1f} %"
        return f"right action {self.right:.1f} %, false action {self.false:.1f} %, feedback right {fb}"


def score(odds: list[Odds], choices: list[str], not_asked: list[Situation]) -> Figures:
    """Figures as the eval counts them; `not_asked` situations are the app's own "none" (nothing to look at)."""
    right = [o.right(c) for o, c in zip(odds, choices, strict=True)]
    right += ["none" in kinds(s) for s in not_asked]
    quiet = [c != "none" for o, c in zip(odds, choices, strict=True) if o.quiet]
    quiet += [False for s in not_asked if s.calls_for_nothing]
    fb = [o.right(c) for o, c in zip(odds, choices, strict=True) if o.situation.has_feedback]
    return Figures(
        100 * sum(right) / len(right),
        100 * sum(quiet) / max(1, len(quiet)),
        100 * sum(fb) / len(fb) if fb else None,
    )


def best_threshold(odds: list[Odds], not_asked: list[Situation]) -> tuple[float, Figures, bool]:
    """The threshold on P(act) with the most right actions among those at <= 15 % false action (else the
    fewest false actions), and whether any threshold meets the whole goal."""
    candidates = sorted({o.act for o in odds} | {1.01})
    scored = [(t, score(odds, [o.choice(t) for o in odds], not_asked)) for t in candidates]
    within = [x for x in scored if x[1].false <= 15] or [min(scored, key=lambda x: x[1].false)]
    t, figures = max(within, key=lambda x: (x[1].right, x[1].feedback or 0))
    return t, figures, any(f.meets() for _, f in scored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the suite's SmolLM2-135M)")
    parser.add_argument("--suite", type=Path, default=REPO / "resources" / "eval-suite.toml")
    parser.add_argument("--heartbeat-md", type=Path, help="the HEARTBEAT.md of situations that bring none")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gguf = args.model or model_path()
    if gguf is None or not gguf.is_file():
        parser.error(f"no model file: {gguf}")
    md = args.heartbeat_md.read_text(encoding="utf-8") if args.heartbeat_md else None
    t0 = time.monotonic()
    suite = wiring.load_suite(args.suite)
    asked = requests(suite, md)
    asked_ids = {s.id for s, _ in asked}
    not_asked = [s for s in suite.situations if s.id not in asked_ids]
    model = Model(gguf, args.threads)
    odds = []
    for situation, body in asked:
        o = Odds(situation, model.odds(body))
        odds.append(o)
        cells = " ".join(f"P({a})={o.p[a]:.2f}" for a in ACTIONS if a in o.p)
        print(f"{situation.id:<40} {cells}  expect {'|'.join(sorted(kinds(situation)))}", flush=True)
    likeliest = score(odds, [o.choice() for o in odds], not_asked)
    never = score(odds, ["none"] * len(odds), not_asked)
    t, best, reachable = best_threshold(odds, not_asked)
    seconds = time.monotonic() - t0
    print(
        f"model={gguf.name} suite={args.suite.name} situations={len(suite.situations)} asked={len(odds)} "
        f"separation_auc={auc(odds):.3f} seconds={seconds:.0f}"
    )
    print(f"likeliest answers: {likeliest.text()}")
    print(f"never act: {never.text()}")
    where = f"P(act) >= {t:.2f}" if t <= 1 else "none (acting anywhere adds false actions)"
    print(f"best threshold {where}: {best.text()}")
    print(
        "goal #26 (false action <= 15 % with right action >= 60 %, feedback right >= 80 %) reachable by some "
        f"threshold on this model and prompt: {'yes' if reachable else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
