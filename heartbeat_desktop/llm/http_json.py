"""One JSON POST/GET with the error mapping every hosted provider shares.

Written on httpx (already here through `ollama`) rather than the vendors' SDKs: each provider needs one
endpoint to chat and one to list models, and owning the request lets every provider share the same
deadline, the same 429 handling and the same never-leak-the-key error messages. The key is only ever
placed in a header; no message built here contains a header.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ..core.json_keys import RepeatedKey, one_value_per_key
from ..core.ports import LLMError
from .context_window import overflow_error
from .server_memory import ServerMemory
from .server_text import one_line, seconds, whole_text, without_key
from .transport import CallGuard, describe_cut

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 30.0


def _server_message(response: httpx.Response, secrets: list[str]) -> str:
    """The server's own words about an error, as one bounded line without our key in it."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return one_line(response.text, secrets=secrets) or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return one_line(error.get("message") or error.get("type") or error, secrets=secrets)
    if isinstance(error, str):
        return one_line(error, secrets=secrets)
    return one_line(body, secrets=secrets)


def sent_secrets(headers: dict[str, str]) -> list[str]:
    """The credentials a request carries (the key itself, without "Bearer "), to keep out of messages."""
    return [
        value.split(" ", 1)[-1] for name, value in headers.items() if name.lower() in ("authorization", "x-api-key")
    ]


def request_json(
    method: str,
    url: str,
    *,
    provider: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    timeout_s: float,
    model: str = "",
    cancelled: Callable[[], bool] = lambda: False,
    key_hint: str = "",
    guard: CallGuard | None = None,
) -> dict[str, Any]:
    """Send one request; 429 is retried after Retry-After while the deadline allows. Raises LLMError.

    Everything runs under one `CallGuard` (given, or made for `timeout_s`): the deadline is a deadline
    even for a server that trickles bytes, and the reply's size is capped."""
    guard = guard or CallGuard(time.monotonic() + timeout_s)
    with guard:
        return _request_json(method, url, provider, headers, body, timeout_s, model, cancelled, key_hint, guard)


def _request_json(
    method: str,
    url: str,
    provider: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    timeout_s: float,
    model: str,
    cancelled: Callable[[], bool],
    key_hint: str,
    guard: CallGuard,
) -> dict[str, Any]:
    # One client for every attempt: it shares the guard's transport, which the guard closes at the end.
    client = httpx.Client(
        transport=guard.transport, follow_redirects=True, event_hooks={"request": [_same_origin(url, provider)]}
    )
    secrets = sent_secrets(headers)
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.request(method, url, headers=headers, json=body, timeout=guard.timeout())
        except httpx.HTTPError as exc:
            raise _transport_error(exc, guard, provider, url, timeout_s) from exc
        if cancelled():
            raise LLMError("cancelled", "the request was cancelled")
        if response.status_code == 429:
            wait = _retry_after(response)
            if wait is not None and time.monotonic() + wait < guard.deadline and attempt < 4:
                log.info("%s rate-limited the request; retrying in %.1f s", provider, wait)
                if guard.stopped.wait(wait):  # cancelled (or out of time) while waiting
                    raise describe_cut(guard, provider, timeout_s) or LLMError("cancelled", "the request was cancelled")
                continue
            after = f" (retry after {wait:g} s)" if wait is not None else ""
            raise LLMError(
                "http_error",
                f"{provider} is rate-limiting requests (HTTP 429){after}: {_server_message(response, secrets)}",
                "wait a little, or lower the heartbeat frequency",
            )
        if response.status_code >= 400:
            raise _status_error(response, provider, headers, secrets, model, key_hint)
        return _json_object(response, provider)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = httpx.URL(url)
    return parts.scheme, parts.host, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _same_origin(url: str, provider: str) -> Callable[[httpx.Request], None]:
    """A redirect is followed only to the same scheme, host and port. httpx drops `Authorization` on a
    cross-origin redirect but keeps every other header, and Anthropic's key travels in `x-api-key`: a 307 to
    another port received it. Raised before anything is sent there."""
    origin = _origin(url)

    def check(request: httpx.Request) -> None:
        if _origin(str(request.url)) != origin:
            raise CrossOriginRedirect(
                provider, f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
            )

    return check


class CrossOriginRedirect(LLMError):
    """A redirect to another scheme, host or port, refused before anything was sent there. The client that
    knows its provider's kind and base path turns it into a command the user can run as it is."""

    def __init__(self, provider: str, origin: str, fix: str = "") -> None:
        super().__init__(
            "http_error",
            f"{provider} redirected the request to {origin}, another address; nothing was sent there (nor the key)",
            fix or "if that is where the server now is, set the provider's URL to it (heartbeat-desktop provider add)",
        )
        self.origin = origin


def _transport_error(exc: httpx.HTTPError, guard: CallGuard, provider: str, url: str, timeout_s: float) -> LLMError:
    """What a request that got no answer means: cut by the guard (cancelled, out of time, a reply that
    trickled or would not end), nobody listening, or no answer in time."""
    cut = describe_cut(guard, provider, timeout_s)
    if cut is not None:
        return cut
    where = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"  # the port too: a wrong port is a common mistake
    if isinstance(exc, httpx.ConnectError):
        return LLMError(
            "unreachable",
            f"cannot reach {provider} at {where}",
            "check that the server runs there, and the provider's URL (heartbeat-desktop provider list)",
        )
    if isinstance(exc, httpx.TimeoutException):
        return LLMError(
            "timeout",
            f"{provider} did not answer within {seconds(timeout_s)} s",
            "try again, or raise the timeout in Settings",
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return LLMError(
            "http_error",
            f"{provider} at {where} closed the connection before its reply was complete",
            "the server stopped or crashed during the request: check that it runs, then try again",
        )
    return LLMError("http_error", f"HTTP error talking to {provider} at {where} ({type(exc).__name__})")


def _status_error(
    response: httpx.Response,
    provider: str,
    headers: dict[str, str],
    secrets: list[str],
    model: str,
    key_hint: str,
) -> LLMError:
    """An HTTP error status in words: a refused key, a missing model, a prompt too long, or the server's own."""
    status = response.status_code
    said = _server_message(response, secrets)
    if status in (401, 403):
        sent_key = any(h.lower() in ("authorization", "x-api-key") for h in headers)
        what = "the API key" if sent_key else "the request (no API key was sent)"
        return LLMError(
            "auth",
            f"{provider} refused {what} (HTTP {status}): {said}",
            key_hint or f"set {'a new' if sent_key else 'a'} key: heartbeat-desktop provider set-key {provider}",
            status=status,
            detail=said,
        )
    if status == 404 and model:
        return LLMError(
            "model_not_found",
            f"{provider} has no model {model!r} (HTTP 404): {said}",
            "pick a model from the list in Settings",
            status=status,
            detail=said,
        )
    overflow = overflow_error(provider, said, status)
    if overflow is not None:
        return overflow
    return LLMError("http_error", f"{provider} returned HTTP {status}: {said}", status=status, detail=said)


def _lenient_int(text: str) -> int | None:
    """A whole number in a server's envelope. One of thousands of digits (Python refuses to read past 4300)
    is no count a server means: read as None, so a valid decision is not lost to a garbled `usage` field."""
    return int(text) if len(text) <= 30 else None


def _json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        data = response.json(parse_int=_lenient_int, object_pairs_hook=one_value_per_key)
    except RepeatedKey as exc:  # Python would keep the last: which one the server meant is a guess
        raise LLMError(
            "invalid_reply", f"invalid reply: {provider} sent JSON with the key {exc.key[:80]!r} twice: ambiguous"
        ) from None
    except (ValueError, RecursionError) as exc:  # not JSON, nested too deep
        raise LLMError("invalid_reply", f"invalid reply: {provider} sent something that is not JSON") from exc
    if not isinstance(data, dict):
        raise LLMError("invalid_reply", f"invalid reply: {provider} sent JSON that is not an object")
    return data


class HostedClient:
    """What every hosted provider client shares: a name for messages, a base URL, a key, a cancel flag."""

    kind: ClassVar[str]  # the provider kind this client speaks (`provider add --kind`)

    def __init__(self, name: str, base_url: str, api_key: str | None, memory: ServerMemory | None = None) -> None:
        self.name = name
        self.host = base_url.rstrip("/")
        self._api_key = api_key
        self._memory = memory
        self._cancel = threading.Event()
        self._guard: CallGuard | None = None

    def cancel(self) -> None:
        """Abort the call in flight (from another thread): its connection is cut at once."""
        self._cancel.set()
        guard = self._guard
        if guard is not None:
            guard.cancel()

    @staticmethod
    def _deadline(request: Any) -> float:
        return time.monotonic() + request.timeout_s

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    def _clean(self, text: str | None) -> str | None:
        """What the model (or a server posing as one) said, whole Unicode, without our key in it."""
        if not text:
            return text
        return without_key(whole_text(text), self._api_key)

    def _post(self, path: str, body: dict[str, Any], request: Any, deadline: float | None = None) -> dict[str, Any]:
        """The one chat request: the request's model and timeout (a run's attempts share one `deadline`),
        this client's headers and cancel flag."""
        guard = CallGuard(deadline if deadline is not None else time.monotonic() + request.timeout_s)
        self._guard = guard
        if self._cancel.is_set():
            raise LLMError("cancelled", "the request was cancelled")
        try:
            return request_json(
                "POST",
                f"{self.host}{path}",
                provider=self.name,
                headers=self._headers(),
                body=body,
                timeout_s=request.timeout_s,
                model=request.model,
                cancelled=self._cancel.is_set,
                guard=guard,
            )
        except CrossOriginRedirect as exc:
            raise self._redirected(exc) from None
        except LLMError as exc:
            if exc.kind == "context_overflow" and exc.limit and self._memory is not None:
                self._memory.learn_window(self.name, self.host, request.model, exc.limit)
            better = self._diagnose(exc) if exc.status == 404 else None
            if better is not None:
                raise better from None
            raise

    def _diagnose(self, error: LLMError) -> LLMError | None:
        """What a 404 really means for this kind of server (llm/diagnose.py), or None."""
        return None

    def _redirected(self, exc: CrossOriginRedirect) -> CrossOriginRedirect:
        """The refused redirect, with the whole command that would point this provider there (its kind and
        the base path kept: a server moved to another port still answers under /v1)."""
        moved = exc.origin + urlsplit(self.host).path
        return CrossOriginRedirect(
            self.name,
            exc.origin,
            f"if that is where the server now is, point {self.name} at it: heartbeat-desktop provider add "
            f"{self.name} --kind {self.kind} --url {moved}",
        )

    def context_window(self, model: str) -> int | None:
        return self._memory.recall_window(self.name, self.host, model) if self._memory is not None else None

    def _models(self, path: str, timeout_s: float) -> list[str]:
        try:
            return list_model_ids(
                f"{self.host}{path}", provider=self.name, headers=self._headers(), timeout_s=timeout_s
            )
        except CrossOriginRedirect as exc:
            raise self._redirected(exc) from None
        except LLMError as exc:
            better = self._diagnose(exc) if exc.status == 404 else None
            if better is not None:
                raise better from None
            raise


def list_model_ids(url: str, *, provider: str, headers: dict[str, str], timeout_s: float) -> list[str]:
    """GET a `{"data": [{"id": …}, …]}` model list (the OpenAI and Anthropic shape), sorted. Each id is made
    one inert line without our key in it: a server names its models, and the names are printed and logged."""
    data = request_json("GET", url, provider=provider, headers=headers, timeout_s=timeout_s)
    secrets = sent_secrets(headers)
    ids = (one_line(m.get("id"), secrets=secrets) for m in data.get("data", []) if isinstance(m, dict) and m.get("id"))
    return sorted(ids)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds_ = float(value)
    except ValueError:
        return None
    # "nan" and "inf" parse as floats; neither is a wait (min/max would keep a NaN: "retry after nan s").
    return min(max(seconds_, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds_) else None
