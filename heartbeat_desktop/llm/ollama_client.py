"""Ollama client on the official `ollama` package, with every failure mapped to one clear reason.

The chat is streamed: the client can then enforce a *total* deadline (httpx's timeout is per read, so a
server trickling tokens would never time out), stop early when cancelled, and see ``done_reason`` to
tell a reply cut off at ``num_predict`` from a model that just wrote prose.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx

from ..core.ports import LLMError, LLMReply, LLMRequest
from .context_window import overflow_error
from .diagnose import openai_not_ollama
from .hosts import host_problem, resolve_host
from .output_format import OLLAMA_LADDER, walk
from .server_memory import ServerMemory
from .server_text import one_line, seconds, token_count, whole_text, without_key
from .transport import TIMEOUT_HINT, CallGuard, describe_cut

log = logging.getLogger(__name__)

OllamaFormat = dict[str, Any] | Literal["json"]  # what `format` takes: a JSON schema, or plain JSON mode

PULL_MAX_BYTES = 256 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0


def _import_ollama() -> Any:
    """The ollama library builds a default client from $OLLAMA_HOST when it is imported, and a value it
    cannot parse (a port past 65535, a cut IPv6 address) raised there — every command failed with a
    traceback, even the one that would set a working host. The app always passes its host explicitly, so
    the library is imported without the variable; the app checks it itself (`resolve_host`)."""
    saved = os.environ.pop("OLLAMA_HOST", None)
    try:
        import ollama
    finally:
        if saved is not None:
            os.environ["OLLAMA_HOST"] = saved
    return ollama


ollama = _import_ollama()


class OllamaClient:
    def __init__(
        self,
        host: str | None = None,
        *,
        api_key: str | None = None,
        name: str = "ollama",
        memory: ServerMemory | None = None,
        keep_alive: int | str | None = None,
    ) -> None:
        """`keep_alive`: how long the server keeps the model after a chat (0 frees it at once); None leaves
        the server's default (5 minutes) — a heartbeat every 30 minutes would otherwise hold gigabytes of
        memory for nothing most of the time."""
        self.host = resolve_host(host)
        # Checked here, reported by every call: a bad address fails runs with a clear reason instead of
        # stopping `status`, the tray or `settings set` (the way to fix it) with an exception.
        problem = host_problem(self.host)
        self._bad_host = (
            None
            if problem is None
            else f"the model server address is not usable: {problem}"
            + ("" if host else " (from $OLLAMA_HOST; set one with: heartbeat-desktop settings set ollama_host URL)")
        )
        self.name = name
        self._keep_alive = keep_alive
        self._api_key = api_key
        self._memory = memory
        self._cancel = threading.Event()
        self._guard: CallGuard | None = None

    @property
    def address_problem(self) -> str | None:
        """Why the configured address cannot work, if it cannot (shown by `status`)."""
        return self._bad_host

    def cancel(self) -> None:
        """Abort the call in flight (from another thread): its connection is cut at once."""
        self._cancel.set()
        guard = self._guard
        if guard is not None:
            guard.cancel()

    def _client(self, timeout_s: float, guard: CallGuard | None = None) -> Any:
        if self._bad_host is not None:
            raise LLMError("unreachable", self._bad_host)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else None
        if guard is not None:
            return ollama.Client(host=self.host, timeout=guard.timeout(), headers=headers, transport=guard.transport)
        timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        return ollama.Client(host=self.host, timeout=timeout, headers=headers)

    # ------------------------------------------------------------------ LLMClient protocol
    def chat(self, request: LLMRequest) -> LLMReply:
        """Ask with the decision schema as `format`; an Ollama that refuses schemas (before 0.5) gets
        `format: "json"`, then none (see `output_format.py`)."""
        self._cancel.clear()
        deadline = time.monotonic() + request.timeout_s
        if request.schema is None:
            return self._chat_once(request, None, deadline)
        schema = request.schema

        def attempt(fmt: str, _left: float) -> LLMReply:
            formats: dict[str, OllamaFormat] = {"schema": schema.for_ollama(), "json": "json"}
            return self._chat_once(request, formats.get(fmt), deadline)

        return walk(
            OLLAMA_LADDER,
            provider=self.name,
            base_url=self.host,
            memory=self._memory,
            deadline=deadline,
            attempt=attempt,
        )

    def _chat_once(self, request: LLMRequest, fmt: OllamaFormat | None, deadline: float) -> LLMReply:
        guard = CallGuard(deadline)
        self._guard = guard
        if self._cancel.is_set():
            raise LLMError("cancelled", "the request was cancelled")
        client = self._client(request.timeout_s, guard)
        content: list[str] = []
        thinking: list[str] = []
        final: Any = None
        try:
            with guard:
                stream = client.chat(
                    model=request.model,
                    messages=[
                        {"role": "system", "content": request.system},
                        {"role": "user", "content": request.prompt},
                    ],
                    format=fmt,
                    options=self._options(request),
                    stream=True,
                    keep_alive=self._keep_alive,
                )
                for part in stream:
                    if part.message.content:
                        content.append(part.message.content)
                    if part.message.thinking:
                        thinking.append(part.message.thinking)
                    if part.done:
                        final = part
        except LLMError:
            raise
        except Exception as exc:
            cut = describe_cut(guard, f"Ollama at {self.host}", request.timeout_s)
            error = None if cut is not None else self._chat_error(exc, request)
            if error is not None and error.kind == "context_overflow" and error.limit and self._memory is not None:
                self._memory.learn_window(self.name, self.host, request.model, error.limit)
            if cut is not None:  # the watchdog or Cancel ended it: that is the reason, not the broken socket
                raise cut from None
            assert error is not None
            raise error from exc
        finally:
            client.close()
        if self._cancel.is_set():
            raise LLMError("cancelled", "the request was cancelled")
        if final is None:
            raise LLMError(
                "invalid_reply", f"invalid reply: the stream from {self.host} ended before the reply was done"
            )
        return LLMReply(
            content=self._clean("".join(content)),
            thinking=self._clean("".join(thinking)) or None,
            done_reason=final.done_reason,
            model=final.model,
            prompt_tokens=token_count(final.prompt_eval_count),
            completion_tokens=token_count(final.eval_count),
        )

    def _clean(self, text: str) -> str:
        """Whole Unicode (an emoji split across two chunks arrives as two surrogate halves), without our key."""
        return without_key(whole_text(text), self._api_key)

    def context_window(self, model: str) -> int | None:
        return self._memory.recall_window(self.name, self.host, model) if self._memory is not None else None

    @staticmethod
    def _options(request: LLMRequest) -> dict[str, Any]:
        options: dict[str, Any] = {"num_predict": request.max_tokens, "temperature": request.temperature}
        if request.context_tokens:
            # Ollama keeps its own default window (2048 or 4096 by version) and silently cuts the *front* of
            # a longer prompt: the rules. Asking for the window the prompt was built to fit prevents that.
            options["num_ctx"] = request.context_tokens
        return options

    def _chat_error(self, exc: Exception, request: LLMRequest) -> LLMError:
        """One clear reason for whatever the `ollama` package or httpx raised."""
        if isinstance(exc, ollama.ResponseError):
            return self._response_error(exc, request.model)
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return self._unreachable()
        if isinstance(exc, httpx.TimeoutException):
            return self._timeout(request)
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return LLMError(
                "invalid_reply", f"Ollama at {self.host} closed the connection mid-reply ({one_line(exc, 120)})"
            )
        if isinstance(exc, json.JSONDecodeError):
            return LLMError("invalid_reply", f"invalid reply: Ollama at {self.host} sent malformed data ({exc.msg})")
        if isinstance(exc, httpx.HTTPError):
            return LLMError("http_error", f"HTTP error talking to Ollama at {self.host}: {exc}")
        if isinstance(exc, ValueError | TypeError):  # pydantic rejected a chunk that is JSON but not Ollama's shape
            return LLMError("invalid_reply", f"invalid reply: {self.host} sent data that is not an Ollama chat reply")
        return LLMError("http_error", f"unexpected error talking to Ollama at {self.host}: {type(exc).__name__}")

    def _unreachable(self) -> LLMError:
        return LLMError(
            "unreachable",
            f"cannot reach Ollama at {self.host}",
            "start Ollama (`ollama serve`) or check the host in Settings",
        )

    def _timeout(self, request: LLMRequest) -> LLMError:
        return LLMError(
            "timeout",
            f"Ollama at {self.host} did not answer within {seconds(request.timeout_s)} s",
            TIMEOUT_HINT,
        )

    def _response_error(self, exc: Any, model: str) -> LLMError:
        message = one_line(exc.error, secrets=[self._api_key]) or "no message"
        status = exc.status_code
        overflow = overflow_error(f"Ollama at {self.host}", message, status)
        if overflow is not None:
            return overflow
        if status == 404 and "not found" in message.lower():
            wrong_kind = openai_not_ollama(self.host, self.name)
            if wrong_kind is not None:
                return wrong_kind
            return LLMError(
                "model_not_found",
                f"model {model!r} is not installed on {self.host}",
                f"run `ollama pull {model}`",
                status=status,
                detail=message,
            )
        if status in (401, 403):
            what = "the API key" if self._api_key else "the request (no API key was sent)"
            return LLMError(
                "auth",
                f"Ollama at {self.host} refused {what} (HTTP {status}): {message}",
                f"set a key: heartbeat-desktop provider set-key {self.name}",
                status=status,
                detail=message,
            )
        if status == -1:  # an error object inside the stream
            return LLMError(
                "http_error", f"Ollama at {self.host} reported an error: {message}", status=status, detail=message
            )
        return LLMError(
            "http_error", f"Ollama at {self.host} returned HTTP {status}: {message}", status=status, detail=message
        )

    # ------------------------------------------------------------------ helpers for settings/CLI
    def version(self, timeout_s: float = 5.0) -> str:
        if self._bad_host is not None:
            raise LLMError("unreachable", self._bad_host)
        # Under the same guard as a chat: a server trickling its headers must not hang Test connection,
        # `provider test` or the health check.
        guard = CallGuard(time.monotonic() + timeout_s)
        try:
            with guard, httpx.Client(transport=guard.transport, timeout=guard.timeout()) as client:
                r = client.get(f"{self.host}/api/version", headers=self._headers())
                if r.status_code == 404:
                    raise openai_not_ollama(self.host, self.name) or LLMError(
                        "http_error", f"{self.host} has no /api/version (HTTP 404): is it an Ollama server?", status=404
                    )
                r.raise_for_status()
                said = r.json()
                version = said.get("version", "unknown") if isinstance(said, dict) else "unknown"
                return one_line(version, limit=60, secrets=[self._api_key])
        except (httpx.HTTPError, ValueError) as exc:
            raise self._call_error(exc, guard, timeout_s, f"Ollama at {self.host}") from exc

    def unload_all(self, timeout_s: float = 10.0) -> list[str]:
        """Ask the server to free every model it holds now ("Unload models now"); returns their names."""
        guard = CallGuard(time.monotonic() + timeout_s)
        client = self._client(timeout_s, guard)
        name = ""  # the model being unloaded, for the error: none while listing them
        try:
            with guard:
                names = [m.model for m in client.ps().models if m.model]
                for name in names:
                    client.generate(model=name, keep_alive=0)
                # Names as a server gave them are printed and logged: one inert line each (see list_models).
                return [one_line(n, secrets=[self._api_key]) for n in names]
        except ollama.ResponseError as exc:
            raise self._response_error(exc, name) from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise self._call_error(exc, guard, timeout_s) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
            raise self._not_ollamas(guard, timeout_s, "list of loaded models") from exc
        finally:
            client.close()

    def _not_ollamas(self, guard: CallGuard, timeout_s: float, what: str) -> LLMError:
        """A list in a shape Ollama never sends (the library's own parsing failed): said in one line."""
        cut = describe_cut(guard, f"Ollama at {self.host}", timeout_s)
        return cut or LLMError("invalid_reply", f"Ollama at {self.host} sent a {what} that is not Ollama's")

    def list_models(self, timeout_s: float = 10.0) -> list[str]:
        guard = CallGuard(time.monotonic() + timeout_s)
        client = self._client(timeout_s, guard)
        try:
            with guard:
                # A server names its models; a newline in a name would print a line of its own (a forged model,
                # a forged status line): each is one inert line, as the hosted clients' ids are.
                return [one_line(m.model, secrets=[self._api_key]) for m in client.list().models if m.model]
        except ollama.ResponseError as exc:
            raise self._response_error(exc, "") from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise self._call_error(exc, guard, timeout_s) from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._not_ollamas(guard, timeout_s, "model list") from exc
        finally:
            client.close()

    def _call_error(self, exc: Exception, guard: CallGuard, timeout_s: float, what: str = "") -> LLMError:
        """The one reason for a failed call outside a chat (version, model list, unload, pull): what the
        guard did (a deadline, Cancel, the cap) first, then the connection refused, then the transport's
        own timeout, else the error itself (after `what`, or "HTTP error talking to Ollama at …")."""
        cut = describe_cut(guard, f"Ollama at {self.host}", timeout_s)
        if cut is not None:
            return cut
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return self._unreachable()
        if isinstance(exc, httpx.TimeoutException):
            return LLMError("timeout", f"Ollama at {self.host} did not answer within {timeout_s:g} s")
        return LLMError("http_error", f"{what or f'HTTP error talking to Ollama at {self.host}'}: {exc}")

    def pull(
        self,
        model: str,
        on_progress: Callable[[str, int | None, int | None], None],
        cancel: threading.Event | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        """Download `model` on the server, reporting (status, completed bytes, total bytes) as it streams.

        `timeout_s` bounds each wait for the next progress line, not the whole download.
        """
        # A pull streams a progress line per chunk for minutes: cap its bytes far above a chat reply's (a
        # flood with no newline still ends), and bound the silence between lines, not the whole download.
        guard = CallGuard(time.monotonic() + timeout_s, max_bytes=PULL_MAX_BYTES)
        client = self._client(timeout_s, guard)
        stop_watch = threading.Event()
        if cancel is not None:  # Cancel cuts the connection at once, not at the next progress line

            def watch() -> None:
                while not stop_watch.is_set():
                    if cancel.wait(0.2):
                        guard.cancel()
                        return

            threading.Thread(target=watch, name="pull-cancel", daemon=True).start()
        try:
            with guard:
                for part in client.pull(model, stream=True):
                    guard.extend(timeout_s)  # the limit is on silence, not on the whole download
                    if cancel is not None and cancel.is_set():
                        raise LLMError("cancelled", f"pulling {model} was cancelled")
                    on_progress(part.status or "", part.completed, part.total)
        except LLMError:
            raise
        except ollama.ResponseError as exc:
            raise self._response_error(exc, model) from None
        except (ConnectionError, httpx.HTTPError) as exc:
            if guard.reason == "cancelled":
                raise LLMError("cancelled", f"pulling {model} was cancelled") from None
            if guard.reason == "timeout":
                raise LLMError(
                    "timeout", f"Ollama at {self.host} stopped reporting progress for {timeout_s:g} s"
                ) from None
            raise self._call_error(exc, guard, timeout_s) from exc
        finally:
            stop_watch.set()
            client.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
