"""Decide, before spending an LLM call, whether a heartbeat should ask the model at all."""

from __future__ import annotations

from .config import HeartbeatConfig
from .heartbeat_md import Instructions
from .schedule import in_active_hours

SCHEDULED_TRIGGERS = ("schedule", "catch-up")


def precheck(
    config: HeartbeatConfig,
    instructions: Instructions,
    *,
    trigger: str,
    now_ts: float,
    paused: bool,
    fingerprint: str,
    last_success_fingerprint: str | None,
) -> str | None:
    """Return the reason to skip, or None to go ahead.

    A person pressing "Run now" has asked explicitly, so disabled/paused/active-hours and the
    "nothing new" rule apply only to scheduled runs. An empty HEARTBEAT.md always skips: there is
    nothing to ask the model, whoever triggered it.
    """
    scheduled = trigger in SCHEDULED_TRIGGERS
    if scheduled:
        if not config.enabled:
            return "heartbeat disabled for this thread"
        if paused:
            return "thread paused"
        if not in_active_hours(config, now_ts):
            return (
                f"outside active hours ({config.active_hours_start:02d}:00–"
                f"{config.active_hours_end:02d}:00 {config.timezone or 'local time'})"
            )
    if not instructions.is_actionable:
        detail = f" ({instructions.warnings[0]})" if instructions.warnings else ""
        return f"HEARTBEAT.md has nothing actionable{detail}"
    if scheduled and not config.always_ask and last_success_fingerprint == fingerprint:
        return "nothing new since the last successful run"
    return None
