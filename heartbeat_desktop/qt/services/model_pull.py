"""Pulling a model into an Ollama, off the GUI thread: the one pull task Set up and Settings both start.

Set up's "Pull into Ollama" and Settings' "Pull" each built the same task (a client, a worker emitting every
progress line, the name as the result); they differ only in how they show progress, so that is all they pass.
The client is imported here, when a pull starts: opening either window does not load it (issue #17).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from .tasks import Task, Tasks

PullProgress = tuple[str, int | None, int | None]  # Ollama's status line, bytes done, bytes in all


def start_pull(
    tasks: Tasks,
    host: str | None,
    name: str,
    done: Callable[[str], None],
    failed: Callable[[str], None],
    progress: Callable[[PullProgress], None],
) -> Task:
    """Pull `name` into the Ollama at `host` (None: the app's own) on a task of `tasks`. Setting the task's
    `cancelled` cuts the download at once; `done` gets the name, `failed` the reason."""
    from ...llm.ollama_client import OllamaClient

    client = OllamaClient(host)

    def work(task: Task) -> str:
        client.pull(name, lambda status, got, total: task.progress.emit((status, got, total)), task.cancelled)
        return name

    return tasks.start(
        work, lambda result: done(cast(str, result)), failed, progress=lambda v: progress(cast(PullProgress, v))
    )


def percent(progress: PullProgress) -> int | None:
    """How far a pull is, in whole percent; None while Ollama has not said how much there is."""
    _status, got, total = progress
    return 100 * (got or 0) // total if total else None
