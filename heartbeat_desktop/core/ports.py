"""The small protocols the core needs from the layers above: a store, a model client, and their errors.

`store.SqliteStore` implements `HeartbeatStore`; `llm.ModelRouter` (which picks Ollama, an OpenAI-compatible
server or Anthropic per thread) and each provider's client implement `LLMClient`. The presence protocol is
in `core/presence.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .models import FeedPost, Message, Note, RunRecord, Thread

if TYPE_CHECKING:
    from .decision_schema import DecisionSchema
    from .feedback import RejectedAction

LLMErrorKind = Literal[
    "unreachable", "model_not_found", "http_error", "timeout", "invalid_reply", "cancelled", "auth", "context_overflow"
]


class LLMError(Exception):
    """One clear reason an LLM call failed, plus what the user can do about it."""

    def __init__(
        self,
        kind: LLMErrorKind,
        message: str,
        hint: str = "",
        *,
        status: int | None = None,
        detail: str = "",
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        # The server's HTTP status (-1: an error reported inside a stream) and its own words, so a client
        # can tell "this server refuses the output format" from other errors without parsing `message`.
        self.status = status
        self.detail = detail
        # context_overflow: the model's context window in tokens, when the server said it.
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class LLMRequest:
    model: str
    system: str
    prompt: str
    # What the reply may be; each client sends it in the shape its server accepts (None: free text).
    schema: DecisionSchema | None
    max_tokens: int
    temperature: float
    timeout_s: float
    # The context window the prompt was built to fit (tokens); Ollama is asked to allocate it (num_ctx).
    context_tokens: int | None = None


@dataclass(frozen=True)
class LLMReply:
    content: str
    thinking: str | None = None
    done_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # How the reply was constrained ("schema", "json_schema", "json_object", "json", "prompt"), and what
    # the user should know about it (a server refused a format and the client fell back).
    output_format: str | None = None
    notices: tuple[str, ...] = ()
    # The provider that answered (set by the router): a run keeps it, so replay asks the same one again.
    provider: str | None = None


class LLMClient(Protocol):
    def chat(self, request: LLMRequest) -> LLMReply:
        """Send one request; raise LLMError for every failure."""
        ...

    def context_window(self, model: str) -> int | None:
        """The context window (tokens) the server reported for `model` before, if it did; the runner builds
        prompts to fit it."""
        ...

    def cancel(self) -> None:
        """Stop the call in flight, from any thread: it ends at once with LLMError(kind="cancelled")."""
        ...


class ProviderClient(LLMClient, Protocol):
    """A client for one provider: it can also say which models the server has (Settings, `provider test`)."""

    def list_models(self, timeout_s: float = 10.0) -> list[str]: ...


class SecretsUnavailable(RuntimeError):
    """A stored secret (an API key) cannot be read: no usable keyring, or it did not answer in time. The
    message says what to do and never holds the secret; `hint` is the way out where it is not the keyring's
    usual one (unlock it, or answer its dialog)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class StoreError(Exception):
    """The store could not do what was asked (locked past the retry budget, disk full, corrupt)."""


class PostNotFound(StoreError):
    """A comment or vote names a post that does not exist (any more)."""


class NoteNotFound(StoreError):
    """A thread has no note of that number: the API's 404, like a missing thread or post."""


class DailyCapReached(StoreError):
    """The thread already took as many actions of this kind today as it may; found inside the write
    transaction, so two runs at once cannot both slip under the cap. `str()` is the run's reason."""


@dataclass(frozen=True)
class DailyCap:
    """At most `limit` actions of the run's kind by its thread since `since` (start of its day)."""

    limit: int
    since: float


class HeartbeatStore(Protocol):
    def get_thread(self, thread_id: str) -> Thread | None: ...

    def thread_fingerprint(self, thread_id: str) -> str:
        """Changes whenever the thread's messages or notes, or the feed, change."""
        ...

    def last_success_fingerprint(self, thread_id: str) -> str | None: ...

    def recent_messages(self, thread_id: str, limit: int) -> list[Message]: ...

    def open_notes(self, thread_id: str, limit: int) -> list[Note]: ...

    def recent_posts(self, limit: int, comments_each: int = 0) -> list[FeedPost]:
        """The newest feed posts, newest first, each with its newest `comments_each` comments (oldest of them
        first) in `latest_comments`: the agent must see what was answered on a post, not only how often."""
        ...

    def rejected_actions(self, thread_id: str, limit: int) -> list[RejectedAction]:
        """The thread's own actions the user rejected, newest first (core/feedback.py)."""
        ...

    def post_exists(self, post_id: int) -> bool: ...

    def refs_seen_last(self, thread_id: str) -> set[str] | None:
        """The refs of the items the thread's last answered heartbeat was shown (core/citations.py), or None
        when there is none to compare with (the first, one from before #26, or its details pruned)."""
        ...

    def actions_since(self, thread_id: str, since: float) -> dict[str, int]:
        """How many posts, comments and votes the thread made since `since` (the daily caps)."""
        ...

    def same_post_since(self, title: str, content: str, since: float) -> tuple[int, str | None] | None:
        """(id, thread id) of a post in the feed since `since` with the same title and content (ignoring case
        and spacing), whichever thread made it: the feed is one, and one summary posted by three threads is
        the same noise three times. The thread id is None for a post whose thread was removed."""
        ...

    def recent_answers(self, thread_id: str, limit: int) -> list[tuple[str, str | None]]:
        """(status, raw reply) of the thread's last `limit` real runs (no dry runs), newest first."""
        ...

    def last_run_outcome(self, thread_id: str) -> tuple[str, str] | None:
        """(status, reason) of the thread's latest recorded run, if any."""
        ...

    def pause_thread(self, thread_id: str) -> None: ...

    def insert_run(self, run: RunRecord) -> None: ...

    def finish_run(
        self,
        run: RunRecord,
        action: dict[str, Any] | None = None,
        target: str = "none",
        md_hash: str = "",
        cap: DailyCap | None = None,
    ) -> dict[str, Any] | None:
        """Write `action` (if any) and the run's final state in one transaction; return what was written.
        With `cap`, raise DailyCapReached (writing nothing) if the thread is already at it."""
        ...
