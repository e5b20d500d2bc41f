"""A scripted answer that cites as a cooperative model under the request's grammar would (#26): the first
HEARTBEAT.md item the schema offers as `rule`, and as `because` the first context item that is new — not marked
seen, not the thread's own post. For the tests about something else (the writes, notifications, the API): the
citation rules themselves are tested with hand-written citations (tests/core/test_citations.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.ollama_server import Reply, Respond


def cite_from(body: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """`decision` with the citations its request's schema asks for."""
    fmt = body.get("format")
    branches = fmt.get("anyOf", [fmt]) if isinstance(fmt, dict) else []
    branch = next((b for b in branches if b.get("properties", {}).get("action", {}).get("const") == decision["action"]),
                  None)  # fmt: skip
    if branch is None:
        return decision
    props = branch["properties"]
    cited: dict[str, Any] = {"action": decision["action"]}
    if "rule" in props:
        cited["rule"] = props["rule"]["enum"][0]
    if "because" in props:
        cited["because"] = [_new_ref(body, props["because"]["items"]["enum"])]
    return cited | {k: v for k, v in decision.items() if k != "action"}


def _new_ref(body: dict[str, Any], refs: list[str]) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    thread = re.search(r"Thread: '([^']*)'", user)
    context = json.loads(user.split("<context>\n", 1)[1].split("\n</context>", 1)[0])
    items = [i for kind in ("recent_messages", "open_notes", "feed_posts") for i in context.get(kind, [])]
    fresh = [i["ref"] for i in items if not i.get("seen") and not (thread and i.get("thread") == thread.group(1))]
    return next((r for r in fresh if r in refs), refs[0])


def Act(decision: dict[str, Any] | str) -> Respond:
    """The answer `decision` (a dict or its JSON), cited for whatever request it answers."""
    parsed = json.loads(decision) if isinstance(decision, str) else decision
    return Respond(lambda body: Reply(json.dumps(cite_from(body, parsed))))
