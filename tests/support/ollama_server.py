"""A real HTTP server on 127.0.0.1 that speaks Ollama's API, scripted per test.

It stands in for `ollama serve` (no model weights can run here) and behaves like it on the wire:
NDJSON streaming with chunked transfer encoding (stream defaults to true, as in Ollama), a final chunk
with ``done_reason`` and token counts, ``{"error": ...}`` bodies, 404 for a model that is not pulled,
``/api/tags``, ``/api/show``, ``/api/version``, ``/api/generate``. Every request is recorded so tests can
assert what reached the "model" — including that nothing did.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.support.llama_engine import MODEL_NAME, Finished, GrammarError

if TYPE_CHECKING:
    from tests.support.llama_engine import LlamaEngine


@dataclass
class Reply:
    """A successful answer: `content` split into streamed chunks."""

    content: str
    thinking: str | None = None
    done_reason: str = "stop"
    chunk_chars: int = 12
    delay_s: float = 0.0  # before the first byte (think time)
    chunk_delay_s: float = 0.0
    # Reported completion tokens; by default the request's num_predict when cut at "length" (as a real
    # server reports a reply stopped by max_tokens), else about a token per 4 characters.
    eval_count: int | None = None


@dataclass
class Error:
    status: int
    message: str


@dataclass
class Hang:
    """Accept the request and never answer (until the server stops or `seconds` pass)."""

    seconds: float = 3600.0


@dataclass
class Garbage:
    body: bytes = b"<html>this is not ollama</html>"
    status: int = 200
    content_type: str = "text/html"


@dataclass
class CutOff:
    """Stream part of the reply, then drop the connection without the final chunk."""

    content: str = '{"action": "post", "title": "Half'


@dataclass
class Trickle:
    """Start a 200 stream, then send `piece` every `interval_s` and never a newline (a hostile server)."""

    piece: bytes = b" "
    interval_s: float = 0.2
    seconds: float = 120.0


@dataclass
class Flood:
    """Start a 200 stream and send `total` bytes as fast as possible (with or without newlines)."""

    total: int = 300 * 1024 * 1024
    newlines: bool = False


@dataclass
class StreamError:
    """Start a 200 stream, then report an error inside it (`{"error": …}`), as Ollama does when the runner
    fails after the request was accepted (a grammar it cannot build, a crashed runner)."""

    message: str


@dataclass
class Engine:
    """Answer with the real engine (`OllamaServer(engine=…)`): the request's format, options and messages."""


@dataclass
class Respond:
    """Answer with what `fn(request body)` returns (any other behaviour): a server whose answer depends on
    the question, as a model's does — the evaluation and replay tests ask many different ones."""

    fn: Callable[[dict[str, Any]], Behaviour]


Behaviour = Reply | Error | Hang | Garbage | CutOff | StreamError | Trickle | Flood | Engine | Respond


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many runs at once (the concurrency tests) must not see resets


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaServer:
    def __init__(
        self,
        models: tuple[str, ...] = ("llama3.2:latest", "qwen3:4b"),
        version: str = "0.12.6",
        engine: LlamaEngine | None = None,
        port: int = 0,
    ) -> None:
        self.engine = engine
        self.models = [MODEL_NAME] if engine is not None else list(models)
        self.version = version
        self.requests: list[Recorded] = []
        self._script: list[Behaviour] = []
        self.default: Behaviour = (
            Engine() if engine is not None else Reply('{"action": "none", "reason": "nothing needs attention"}')
        )
        self.required_key: str | None = None
        self.hostile_bytes_sent: list[int] = []  # per Trickle/Flood reply: how much got out before the cut
        # An Ollama before 0.5 knows `format: "json"` only: a schema object is answered with this error.
        self.refuse_schema_format: Error | None = None
        # What Ollama would hold in memory: a model is loaded by a chat unless its keep_alive is 0, and
        # unloaded by a generate with keep_alive 0 (what `/api/ps` lists).
        self.loaded: set[str] = set()
        # Answer /api/tags and /api/ps with these as they are (shapes Ollama never sends), when set.
        self.raw_tags: Any = None
        self.raw_ps: Any = None
        self.pull_steps = 5
        self.pull_step_s = 0.05
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-ollama", daemon=True)

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OllamaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next chat/generate requests with these, in order; then `default`."""
        with self._lock:
            self._script.extend(behaviours)

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path in ("/api/chat", "/api/generate")]

    def _next(self) -> Behaviour:
        with self._lock:
            return self._script.pop(0) if self._script else self.default

    def _known(self, name: str) -> str | None:
        for model in self.models:
            if name == model or f"{name}:latest" == model:
                return model
        return None

    # ------------------------------------------------------------------ HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            # -- helpers
            def _json(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _read_body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    return raw.decode("utf-8", "replace")

            def _record(self, body: Any) -> None:
                with server._lock:
                    server.requests.append(Recorded(self.command, self.path, body, dict(self.headers)))

            def _authorised(self) -> bool:
                if server.required_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {server.required_key}":
                    return True
                self._json(401, {"error": "unauthorized"})
                return False

            # -- routes
            def do_GET(self) -> None:
                self._record(None)
                if not self._authorised():
                    return
                if self.path == "/api/version":
                    self._json(200, {"version": server.version})
                elif self.path == "/api/ps" and server.raw_ps is not None:
                    self._json(200, server.raw_ps)
                elif self.path == "/api/tags" and server.raw_tags is not None:
                    self._json(200, server.raw_tags)
                elif self.path == "/api/ps":
                    self._json(
                        200, {"models": [{"name": m, "model": m, "size": 1, "digest": "d"} for m in server.loaded]}
                    )
                elif self.path == "/api/tags":
                    self._json(
                        200,
                        {
                            "models": [
                                {
                                    "name": m,
                                    "model": m,
                                    "modified_at": _now(),
                                    "size": 2019393189,
                                    "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                                    "details": {
                                        "format": "gguf",
                                        "family": "llama",
                                        "parameter_size": "3.2B",
                                        "quantization_level": "Q4_K_M",
                                    },
                                }
                                for m in server.models
                            ]
                        },
                    )
                elif self.path == "/":
                    body = b"Ollama is running"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_POST(self) -> None:
                body = self._read_body()
                self._record(body)
                if not self._authorised():
                    return
                if not isinstance(body, dict):
                    self._json(400, {"error": "invalid request body"})
                    return
                if self.path == "/api/show":
                    name = body.get("model") or body.get("name") or ""
                    model = server._known(name)
                    if model is None:
                        self._json(404, {"error": f"model '{name}' not found"})
                    else:
                        self._json(
                            200,
                            {
                                "modelfile": "",
                                "parameters": "",
                                "template": "{{ .Prompt }}",
                                "details": {"format": "gguf", "family": "llama"},
                                "capabilities": ["completion"],
                            },
                        )
                elif self.path in ("/api/chat", "/api/generate"):
                    self._generate(body)
                elif self.path == "/api/pull":
                    self._pull(body)
                else:
                    self._json(404, {"error": "404 page not found"})

            def _generate(self, body: dict[str, Any]) -> None:
                name = body.get("model") or ""
                if not name:
                    self._json(400, {"error": "model is required"})
                    return
                model = server._known(name)
                if model is None:
                    self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
                    return
                keep = body.get("keep_alive")
                if self.path == "/api/generate" and not body.get("prompt") and keep in (0, "0", "0s"):
                    server.loaded.discard(model)  # Ollama's way to unload a model now
                    self._json(
                        200,
                        {"model": model, "created_at": _now(), "response": "", "done": True, "done_reason": "unload"},
                    )
                    return
                if keep in (0, "0", "0s"):
                    server.loaded.discard(model)
                else:
                    server.loaded.add(model)
                if server.refuse_schema_format is not None and isinstance(body.get("format"), dict):
                    refusal = server.refuse_schema_format
                    self._json(refusal.status, {"error": refusal.message})
                    return
                behaviour = server._next()
                while isinstance(behaviour, Respond):
                    behaviour = behaviour.fn(body)
                self.num_predict = (body.get("options") or {}).get("num_predict")
                chat = self.path == "/api/chat"
                stream = body.get("stream", True) is not False
                if isinstance(behaviour, Error):
                    self._json(behaviour.status, {"error": behaviour.message})
                elif isinstance(behaviour, Hang):
                    server._stopping.wait(behaviour.seconds)
                    self.close_connection = True
                elif isinstance(behaviour, Garbage):
                    self.send_response(behaviour.status)
                    self.send_header("Content-Type", behaviour.content_type)
                    self.send_header("Content-Length", str(len(behaviour.body)))
                    self.end_headers()
                    self.wfile.write(behaviour.body)
                elif isinstance(behaviour, CutOff):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self._chunk(json.dumps(self._part(model, chat, behaviour.content)).encode() + b"\n")
                    self.close_connection = True  # no final chunk, no terminating 0-chunk
                elif isinstance(behaviour, Trickle | Flood):
                    self._hostile(behaviour)
                elif isinstance(behaviour, StreamError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self._chunk(json.dumps({"error": behaviour.message}).encode() + b"\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif isinstance(behaviour, Engine):
                    self._engine_reply(body, model, chat, stream)
                else:
                    self._reply(behaviour, model, chat, stream)

            def _engine_reply(self, body: dict[str, Any], model: str, chat: bool, stream: bool) -> None:
                """Generate with the real engine. A format llama.cpp cannot compile is an error, as in Ollama:
                inside the stream when streaming (the client sees status -1), else HTTP 500."""
                assert server.engine is not None
                messages = body.get("messages") if chat else [{"role": "user", "content": body.get("prompt", "")}]
                if chat and body.get("system") and isinstance(messages, list):
                    messages = [{"role": "system", "content": body["system"]}, *messages]
                options = body.get("options") or {}
                pieces = server.engine.chat(messages or [], body.get("format"), options, server._stopping)
                try:
                    first = next(pieces)
                except GrammarError as exc:
                    if stream:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/x-ndjson")
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        self._chunk(json.dumps({"error": str(exc)}).encode() + b"\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self._json(500, {"error": str(exc)})
                    return
                text: list[str] = []
                if stream:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                try:
                    for piece in _chain(first, pieces):
                        if isinstance(piece, Finished):
                            final = self._part(model, chat, "" if stream else "".join(text))
                            final.update(
                                done=True,
                                done_reason=piece.done_reason,
                                prompt_eval_count=piece.prompt_tokens,
                                eval_count=piece.completion_tokens,
                            )
                            if stream:
                                self._chunk(json.dumps(final).encode() + b"\n")
                                self.wfile.write(b"0\r\n\r\n")
                                self.wfile.flush()
                            else:
                                self._json(200, final)
                            return
                        text.append(piece)
                        if stream:
                            self._chunk(json.dumps(self._part(model, chat, piece)).encode() + b"\n")
                except (BrokenPipeError, ConnectionResetError):
                    pieces.close()  # the client went away: stop generating

            def _hostile(self, behaviour: Trickle | Flood) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                try:
                    if isinstance(behaviour, Trickle):
                        end = time.monotonic() + behaviour.seconds
                        while time.monotonic() < end and not server._stopping.is_set():
                            self._chunk(behaviour.piece)
                            sent += len(behaviour.piece)
                            time.sleep(behaviour.interval_s)
                    else:
                        block = (b"x" * 1023 + (b"\n" if behaviour.newlines else b"x")) * 64
                        while sent < behaviour.total and not server._stopping.is_set():
                            self._chunk(block)
                            sent += len(block)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.hostile_bytes_sent.append(sent)
                self.close_connection = True

            def _pull(self, body: dict[str, Any]) -> None:
                """Like `ollama pull`: NDJSON progress, then the model is listed. Names with "missing" fail."""
                name = body.get("model") or body.get("name") or ""
                if "missing" in name:
                    self._json(500, {"error": "pull model manifest: file does not exist"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                total = 2_000_000_000
                steps = server.pull_steps
                try:
                    self._chunk(b'{"status":"pulling manifest"}\n')
                    for i in range(1, steps + 1):
                        if server._stopping.wait(server.pull_step_s):
                            return
                        line = {
                            "status": "pulling dde5aa3fc5ff",
                            "digest": "sha256:dde5aa3fc5ff",
                            "total": total,
                            "completed": total * i // steps,
                        }
                        self._chunk(json.dumps(line).encode() + b"\n")
                    for status in ("verifying sha256 digest", "writing manifest", "success"):
                        self._chunk(json.dumps({"status": status}).encode() + b"\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                tagged = name if ":" in name else f"{name}:latest"
                with server._lock:
                    if tagged not in server.models:
                        server.models.append(tagged)

            def _part(self, model: str, chat: bool, content: str, thinking: str | None = None) -> dict[str, Any]:
                if chat:
                    message: dict[str, Any] = {"role": "assistant", "content": content}
                    if thinking:
                        message["thinking"] = thinking
                    return {"model": model, "created_at": _now(), "message": message, "done": False}
                part: dict[str, Any] = {"model": model, "created_at": _now(), "response": content, "done": False}
                if thinking:
                    part["thinking"] = thinking
                return part

            def _final(self, model: str, chat: bool, reply: Reply, content: str) -> dict[str, Any]:
                final = self._part(model, chat, content, None)
                final.update(
                    done=True,
                    done_reason=reply.done_reason,
                    total_duration=1_200_000_000,
                    load_duration=50_000_000,
                    prompt_eval_count=321,
                    prompt_eval_duration=200_000_000,
                    eval_count=reply.eval_count
                    if reply.eval_count is not None
                    else (self.num_predict if reply.done_reason == "length" and self.num_predict else None)
                    or max(1, len(reply.content) // 4),
                    eval_duration=900_000_000,
                )
                return final

            def _reply(self, reply: Reply, model: str, chat: bool, stream: bool) -> None:
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                if not stream:
                    final = self._final(model, chat, reply, reply.content)
                    if reply.thinking:
                        (final["message"] if chat else final)["thinking"] = reply.thinking
                    self._json(200, final)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    if reply.thinking:
                        self._chunk(json.dumps(self._part(model, chat, "", reply.thinking)).encode() + b"\n")
                    text = reply.content
                    for i in range(0, len(text), max(1, reply.chunk_chars)):
                        if reply.chunk_delay_s:
                            time.sleep(reply.chunk_delay_s)
                        piece = text[i : i + reply.chunk_chars]
                        self._chunk(json.dumps(self._part(model, chat, piece)).encode() + b"\n")
                    self._chunk(json.dumps(self._final(model, chat, reply, "")).encode() + b"\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def _chain(first: Any, rest: Any) -> Any:
    yield first
    yield from rest
