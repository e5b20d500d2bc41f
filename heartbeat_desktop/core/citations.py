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

from .heartbeat_md import Instructions

ITEM_TEXT_MAX = 160  # what a prompt and History show of one item
ITEMS_MAX = 40
"""Items numbered at most: the prompt lists them again beside HEARTBEAT.md and the schema enumerates their
numbers, so a file of thousands of lines must not multiply into either (a 35,000-line checklist once did)."""
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
    texts: list[tuple[str, str]] = [("checklist", i.text) for i in instructions.checklist if not i.checked]
    texts += [("rule", r.text) for r in instructions.rules]
    texts += [("behaviour", b) for b in instructions.proactive_behaviors]
    texts += [("other", o) for o in instructions.other]
    return [Item(n, kind, _clip(text)) for n, (kind, text) in enumerate(texts[:ITEMS_MAX], start=1)]


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
    parts += [ref_label(r) for r in because]
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"because {joined}"


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


def nothing_new(because: Sequence[str], seen_before: set[str] | None) -> bool:
    """True when every item the action cites was already shown to the thread's last heartbeat (which
    answered, and did not act on them), or when it cites none. `seen_before` None: there was no such
    heartbeat (the first, or its record was pruned), so everything is new."""
    if seen_before is None:
        return False
    return all(ref in seen_before for ref in because)
