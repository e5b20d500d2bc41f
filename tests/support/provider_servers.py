"""Loopback servers for the OpenAI chat-completions and Anthropic Messages protocols, scripted per test.

They check the key the way the real services do (401 with an error body), answer 429 with Retry-After,
500, or hang, and record every request (headers included) so tests can see what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """A normal answer: text content, or (Anthropic) a tool_use input."""

    text: str = ""
    tool_input: dict[str, Any] | None = None
    finish: str = ""
    reasoning: str | None = None  # OpenAI-compatible: `reasoning_content`, as LM Studio and vLLM send it
    # Instead of the usual usage figures. A value "@digits:N" is sent as a bare number of N nines (Python's own
    # JSON writer refuses to write one over 4300 digits).
    usage: dict[str, Any] | None = None


@dataclass
class Status:
    code: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    seconds: float = 60.0


@dataclass
class Trickle:
    """Send the status line and headers, then one body byte every `interval_s` (never the whole body)."""

    interval_s: float = 0.2
    seconds: float = 120.0


@dataclass
class Flood:
    """Announce and send a body of `total` bytes as fast as possible."""

    total: int = 300 * 1024 * 1024


@dataclass
class Raw:
    """A 200 whose JSON body is given whole (shapes no well-behaved server sends; "@digits:N" as in Answer)."""

    body: dict[str, Any]


@dataclass
class RawText:
    """A 200 whose body is this text as it is (JSON no writer of ours would produce: a key given twice)."""

    text: str


Item = Answer | Status | Hang | Trickle | Flood | Raw | RawText


def response_format_sent(body: dict[str, Any]) -> str | None:
    """The output-format rung a chat request used (llm/output_format.py): `response_format`'s type, with
    `json_schema` told apart as `json_schema_bounded` when its schema carries length keywords."""
    sent = body.get("response_format") or {}
    fmt = sent.get("type")
    if fmt == "json_schema" and '"maxLength"' in json.dumps(sent):
        return "json_schema_bounded"
    return fmt


class ProviderServer:
    """`key=None` is a local server that asks for no key. `refuse_formats` maps an OpenAI
    `response_format.type` to the error a server that does not support it answers with (llama-cpp-python's
    server, for one, refuses `json_schema` with an HTTP 500)."""

    def __init__(
        self,
        protocol: str,
        key: str | None = "test-key",
        models: tuple[str, ...] = (),
        *,
        owned_by: str | None = None,
        port: int = 0,
    ) -> None:
        assert protocol in ("openai", "anthropic")
        # What /models says owns each model, as each server names itself there ("llamacpp", "vllm", "me" for
        # llama-cpp-python, "organization_owner" for LM Studio); None sends no owned_by at all.
        self.owned_by = owned_by
        # Other GET paths answered with this JSON as it is (llama.cpp's /props, /health), without a key.
        self.routes: dict[str, Any] = {}
        self.protocol = protocol
        self.key = key
        self.refuse_formats: dict[str, Status] = {}
        # A careless (or hostile) server that repeats the credentials it got in its errors and answers.
        self.echo_credentials = False
        # Answer a request whose path starts with `redirect_from` with `307 Location: redirect_to + the rest of
        # the path` (another server, or another path on this one).
        self.redirect_to: str | None = None
        self.redirect_from = ""
        self.models = list(
            models or (("gpt-4o-mini", "gpt-4o") if protocol == "openai" else ("claude-3-haiku-20240307",))
        )
        self.requests: list[dict[str, Any]] = []
        self._script: list[Item] = []
        self.bytes_sent: list[int] = []  # per Trickle/Flood answer
        self.default: Item = Answer(json.dumps({"action": "none", "reason": "quiet"}))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler(), bind_and_activate=False)
        self._httpd.request_queue_size = 128  # many requests at once must not see resets
        self._httpd.server_bind()
        self._httpd.server_activate()
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}" + ("/v1" if self.protocol == "openai" else "")

    def script(self, *items: Item) -> None:
        with self._lock:
            self._script.extend(items)

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self) -> Item:
        with self._lock:
            return self._script.pop(0) if self._script else self.default

    def _error_body(self, code: int, message: str) -> dict[str, Any]:
        if self.protocol == "anthropic":
            kind = {401: "authentication_error", 429: "rate_limit_error", 404: "not_found_error"}.get(code, "api_error")
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                body = re.sub(r'"@digits:(\d+)"', lambda m: "9" * int(m.group(1)), json.dumps(payload)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _echo(self, text: str) -> str:
                if not server.echo_credentials:
                    return text
                sent = self.headers.get("Authorization") or self.headers.get("x-api-key") or ""
                return f"{text} (you sent: {sent})"

            def _authorised(self) -> bool:
                if server.key is None:
                    return True
                if server.protocol == "openai":
                    ok = self.headers.get("Authorization") == f"Bearer {server.key}"
                    message = "Incorrect API key provided: sk-...xxxx."
                else:
                    ok = self.headers.get("x-api-key") == server.key
                    message = "invalid x-api-key"
                if not ok:
                    self._send(401, server._error_body(401, self._echo(message)))
                return ok

            def _hostile(self, item: Trickle | Flood) -> None:
                total = item.total if isinstance(item, Flood) else 10**9
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(total))
                self.end_headers()
                sent = 0
                try:
                    if isinstance(item, Trickle):
                        end = time.monotonic() + item.seconds
                        while time.monotonic() < end and not server._stopping.is_set():
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            sent += 1
                            time.sleep(item.interval_s)
                    else:
                        block = b" " * 65536
                        while sent < total and not server._stopping.is_set():
                            self.wfile.write(block)
                            sent += len(block)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.bytes_sent.append(sent)
                self.close_connection = True

            def _read(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _redirected(self) -> bool:
                if server.redirect_to is None or not self.path.startswith(server.redirect_from):
                    return False
                self.send_response(307)
                self.send_header("Location", server.redirect_to + self.path[len(server.redirect_from) :])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                if self.path in server.routes:
                    self._send(200, server.routes[self.path])
                    return
                if self._redirected() or not self._authorised():
                    return
                if self.path.endswith("/models"):
                    owner = {"owned_by": server.owned_by} if server.owned_by is not None else {}
                    data = [{"id": m, "object": "model", **owner} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, server._error_body(404, "not found"))

            def do_POST(self) -> None:
                body = self._read()
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self._redirected() or not self._authorised():
                    return
                wanted = "/v1/chat/completions" if server.protocol == "openai" else "/v1/messages"
                if self.path != wanted:
                    self._send(404, server._error_body(404, f"unknown path {self.path}"))
                    return
                model = body.get("model")
                if model not in server.models:
                    self._send(404, server._error_body(404, f"model: {model} does not exist"))
                    return
                fmt = response_format_sent(body) if server.protocol == "openai" else None
                refusal = server.refuse_formats.get(fmt) if fmt else None
                if refusal is None and fmt == "json_schema_bounded":  # a server without json_schema refuses both
                    refusal = server.refuse_formats.get("json_schema")
                if refusal is not None:
                    self._send(refusal.code, server._error_body(refusal.code, refusal.message))
                    return
                item = server._next()
                if isinstance(item, Hang):
                    server._stopping.wait(item.seconds)
                    self.close_connection = True
                    return
                if isinstance(item, Trickle | Flood):
                    self._hostile(item)
                    return
                if isinstance(item, Status):
                    self._send(item.code, server._error_body(item.code, self._echo(item.message)), item.headers)
                    return
                if isinstance(item, Raw):
                    self._send(200, item.body)
                    return
                if isinstance(item, RawText):
                    body = item.text.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if server.protocol == "openai":
                    self._send(
                        200,
                        {
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "model": model,
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {
                                        "role": "assistant",
                                        "content": self._echo(item.text),
                                        **({"reasoning_content": item.reasoning} if item.reasoning else {}),
                                    },
                                    "finish_reason": item.finish or "stop",
                                }
                            ],
                            "usage": item.usage or {"prompt_tokens": 111, "completion_tokens": 22, "total_tokens": 133},
                        },
                    )
                else:
                    content = (
                        [{"type": "tool_use", "id": "toolu_1", "name": "record_decision", "input": item.tool_input}]
                        if item.tool_input is not None
                        else [{"type": "text", "text": item.text}]
                    )
                    self._send(
                        200,
                        {
                            "id": "msg_1",
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": content,
                            "stop_reason": item.finish or ("tool_use" if item.tool_input is not None else "end_turn"),
                            "usage": item.usage or {"input_tokens": 99, "output_tokens": 17},
                        },
                    )

        return Handler
