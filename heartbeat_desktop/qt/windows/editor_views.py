"""What the editor shows of a HEARTBEAT.md and of a dry-run preview, as text: pure functions of their input,
kept apart from the window so they read (and test) without a widget."""

from __future__ import annotations

import html
import json
import time
from typing import TYPE_CHECKING

from ...core import heartbeat_md
from ...core.citations import numbered_items
from ...core.config import HeartbeatConfig
from ...core.models import RunRecord
from ...core.present import count_of, local_time
from ...core.tasks import next_label, outside_active_hours
from ..model_names import short_model_name

if TYPE_CHECKING:
    from ...core.replay import ReplayItem, ReplayResult


def render_instructions(ins: heartbeat_md.Instructions, config: HeartbeatConfig | None = None) -> str:
    """The parsed file as HTML; every piece of user text is escaped. Task times are in `config`'s zone and
    active hours (the thread's), the local zone without it."""
    e = html.escape
    # Each item an action can cite carries its number, as the prompt and `check` give it (core/citations.py):
    # numbered_items walks the items in this same order, ticked checklist items left out.
    numbers = iter([i.number for i in numbered_items(ins)])

    def num() -> str:
        n = next(numbers, None)
        return f"[{n}] " if n is not None else ""

    parts = [f"<h4>Checklist ({len(ins.checklist)})</h4><ul>"]
    parts += [f"<li>{'☑ ' if i.checked else num() + '☐ '}{e(i.text)}</li>" for i in ins.checklist]
    parts.append(f"</ul><h4>Rules ({len(ins.rules)})</h4><ul>")
    parts += [
        f"<li>{num()}if <b>{e(r.condition)}</b> → {e(r.action or '')}</li>"
        if r.condition
        else f"<li>{num()}{e(r.text)}</li>"
        for r in ins.rules
    ]
    parts.append(f"</ul><h4>Proactive behaviours ({len(ins.proactive_behaviors)})</h4><ul>")
    parts += [f"<li>{num()}{e(b)}</li>" for b in ins.proactive_behaviors]
    parts.append("</ul>")
    if ins.other:
        parts.append(f"<h4>Other instructions ({len(ins.other)})</h4><ul>")
        parts += [f"<li>{num()}{e(o)}</li>" for o in ins.other]
        parts.append("</ul>")
    if ins.tasks:
        now, clock = time.time(), config or HeartbeatConfig()
        parts.append(f"<h4>Tasks ({len(ins.tasks)}): on the clock, not the model's choice</h4><ul>")
        for t in ins.tasks:
            moved = outside_active_hours(t, clock)  # the time it names is not when it runs: say so
            note = f"<br>⚠ {e(moved)}" if moved else ""
            parts.append(f"<li><b>{e(t.when)}</b>: {e(t.what)} — next {e(next_label(t, clock, now))}{note}</li>")
        parts.append("</ul>")
    for warning in ins.warnings:
        parts.append(f"<p><b>⚠ {e(warning)}</b></p>")
    verdict = "yes" if ins.is_actionable else "no — heartbeats will be skipped without asking the model"
    parts.append(f"<p>Actionable: <b>{verdict}</b></p>")
    return "".join(parts)


def preview_summary(run: RunRecord) -> str:
    lines = [f"Status: {run.status}" + (" (dry run: nothing was written)" if run.status == "ok" else "")]
    lines.append(f"Reason: {run.reason or '—'}")
    if run.llm_ms is not None:
        lines.append(f"Model: {short_model_name(run.model or '')}, answered in {run.llm_ms / 1000:.1f} s")
    validation = "passed" if run.status == "ok" else ("not reached" if run.status == "skipped" else "failed")
    lines.append(f"Validation: {validation}")
    lines.append("\nDecision:\n" + (json.dumps(run.decision, indent=2, ensure_ascii=False) if run.decision else "—"))
    would = (run.action_result or {}).get("would_write")
    if would:
        target = (run.action_result or {}).get("target", "none")
        lines.append(f"\nWould write (target: {target}):\n" + json.dumps(would, indent=2, ensure_ascii=False))
    elif run.status == "ok":
        lines.append("\nWould write: nothing (HEARTBEAT_OK)")
    return "\n".join(lines)


def replay_cells(item: ReplayItem) -> tuple[str, str, str]:
    """A changed decision's row: the run, what it decided then, what it decides with the edited text."""
    after = item.after.label() + (f" — {item.after.detail}" if item.after.outcome in ("invalid", "error") else "")
    return f"{local_time(item.run.started_at)}  {item.run.id[:8]}", item.before.label(), after


def replay_summary(result: ReplayResult) -> str:
    changed = sum(1 for item in result.items if item.changed)
    if not result.items and not result.not_replayable:
        return "This thread has no recorded run that asked a model yet: nothing to replay."
    if changed:
        text = f"{changed} of {len(result.items)} decisions change with this text:"
    else:  # said in words: an empty table looked like a replay that had not run (#27 item 8)
        runs = len(result.items)
        text = f"Nothing changed: {runs} run{'s' if runs != 1 else ''}, the same decisions."
    if result.not_replayable:
        text += f" ({count_of(len(result.not_replayable), 'run')} could not be asked again.)"
    return text
