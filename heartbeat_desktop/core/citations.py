"""Why an action was taken: the HEARTBEAT.md item it follows and the context items that call for it (#26).

A decision that acts names `rule`, the number of one item of the user's HEARTBEAT.md (its open checklist
items, rules, behaviours and other lines, numbered in that order as the prompt lists them), and `because`,
the refs of the context items that call for it: `m12` a message, `n3` a note, `p22` a feed post. The
decision schema offers only the numbers and refs this run showed, so a constrained model cannot cite
anything else; `rule_check` checks them again for a server that ignored the schema.

Why citations: a user judging an action needs its reason in their own terms ("because rule 2 and post
#22"), and the app needs something to check. An action that cites only what the thread's last heartbeat
already saw (and did not act on) is refused as "nothing new calls for it" — the commonest false action
of a weak model is to act on the same quiet context it declined a run ago.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .heartbeat_md import ITEMS_MAX, Instructions
from .models import RunRecord

ITEM_TEXT_MAX = 160  # what a prompt and History show of one item
BECAUSE_MAX = 5  # refs one decision may cite
_KINDS = {"m": "message", "n": "note", "p": "post"}


@dataclass(frozen=True)
class Item:
    """One numbered item of HEARTBEAT.md."""

    number: int
    kind: str  # "checklist", "rule", "behaviour", "other"
    text: str


def numbered_items(instructions: Instructions) -> list[Item]:
    """The items a decision may cite, numbered from 1: open checklist items, rules, behaviours, other
    lines, the first `ITEMS_MAX` of them. Ticked checklist items are done and are not offered."""
    return [Item(n, kind, _clip(text)) for n, kind, text in _citable(instructions)]


def _citable(instructions: Instructions) -> list[tuple[int, str, str]]:
    texts: list[tuple[str, str]] = [("checklist", i.text) for i in instructions.checklist if not i.checked]
    texts += [("rule", r.text) for r in instructions.rules]
    texts += [("behaviour", b) for b in instructions.proactive_behaviors]
    texts += [("other", o) for o in instructions.other]
    return [(n, kind, text) for n, (kind, text) in enumerate(texts[:ITEMS_MAX], start=1)]


def numbered_text(text: str, instructions: Instructions, numbers: Iterable[int]) -> tuple[str, list[Item]]:
    """`text` (the file as the model reads it) with each citable item's number in brackets at the start of its
    line, and the items no line could be found for (listed apart). The numbers sit where the items are rather
    than in a second copy of the file: on a 2048-token server that copy left no room for the context."""
    wanted = set(numbers)
    lines = text.split("\n")
    used: set[int] = set()
    unplaced: list[Item] = []
    for number, kind, item_text in _citable(instructions):
        if number not in wanted:
            continue
        needle = " ".join(item_text.split())
        at = next(
            (i for i, line in enumerate(lines) if i not in used and needle and needle in " ".join(line.split())),
            None,
        )
        if at is None:
            unplaced.append(Item(number, kind, _clip(item_text)))
            continue
        used.add(at)
        indent = len(lines[at]) - len(lines[at].lstrip())
        lines[at] = f"{lines[at][:indent]}[{number}] {lines[at][indent:]}"
    return "\n".join(lines), unplaced


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ITEM_TEXT_MAX else flat[: ITEM_TEXT_MAX - 1] + "…"


def describe_items(items: Sequence[Item]) -> str:
    """The items as the system prompt lists them (the numbers `rule` may take)."""
    return "\n".join(f"{i.number}. ({i.kind}) {i.text}" for i in items)


def message_ref(message_id: int) -> str:
    return f"m{message_id}"


def note_ref(note_id: int) -> str:
    return f"n{note_id}"


def post_ref(post_id: int) -> str:
    return f"p{post_id}"


def ref_label(ref: str) -> str:
    """`p22` → "post #22", `m5` → "message 5": what a person reads."""
    kind = _KINDS.get(ref[:1])
    if kind is None or not ref[1:].isdigit():
        return ref
    return f"post #{ref[1:]}" if kind == "post" else f"{kind} {ref[1:]}"


def because_text(rule: int | None, because: Iterable[str], items: Sequence[Item] | None = None) -> str:
    """ "because rule 2 (“…”) and post #22": the reason a notification, History and the CLI give. `items`
    (the run's own numbered items) add the rule's words; without them the number stands alone. Empty when
    the decision cited nothing."""
    parts: list[str] = []
    if rule is not None:
        text = next((i.text for i in items or () if i.number == rule), None)
        parts.append(f"rule {rule} (“{text}”)" if text else f"rule {rule}")
    parts += [ref_label(r) for r in dict.fromkeys(because)]
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"because {joined}"


def run_because(run: RunRecord) -> str:
    """`because_of_run` for a run whose citations stand: not for a reply that was not a valid decision
    (its citations may be what was wrong with it)."""
    return "" if run.error_kind == "invalid_reply" else because_of_run(run.decision, run.inputs)


def because_of_run(decision: object, inputs: object) -> str:
    """`because_text` for a stored run: its decision's citations (checked, a record may be damaged) with
    its stored items for the rule's words. Empty when it cited nothing."""
    if not isinstance(decision, dict):
        return ""
    rule = decision.get("rule")
    because = decision.get("because")
    refs = [r for r in because if isinstance(r, str)] if isinstance(because, list) else []
    number = rule if isinstance(rule, int) and not isinstance(rule, bool) else None
    return because_text(number, refs, items_from_inputs(inputs))


def items_from_inputs(inputs: object) -> list[Item]:
    """The numbered items a run stored in its replay inputs (none for a run from before #26 or pruned)."""
    if not isinstance(inputs, dict) or not isinstance(inputs.get("items"), list):
        return []
    found: list[Item] = []
    for entry in inputs["items"]:
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], int)
            and all(isinstance(x, str) for x in entry[1:])
        ):
            found.append(Item(entry[0], entry[1], entry[2]))
    return found


def refs_in_inputs(stored: object) -> set[str] | None:
    """The refs a run was shown, from its stored inputs (JSON text or the dict); None if it stored none."""
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return None
    if not isinstance(stored, dict) or not isinstance(stored.get("refs"), list):
        return None
    return {r for r in stored["refs"] if isinstance(r, str)}


def nothing_new(because: Sequence[str], seen_before: set[str] | None, own: Iterable[str] = ()) -> bool:
    """True when the action cites nothing new: no ref at all, or only items the thread's last answered
    heartbeat was already shown (`seen_before`; None when there was none — the first, or its record pruned)
    or the thread's own posts (`own`: what it wrote is never news to it, or each post would justify the next)."""
    old = (seen_before or set()) | set(own)
    return all(ref in old for ref in because)
