"""Does a model server answer, and which models does it have? A small HTTP GET on the standard library:
Ollama's version and tags, an OpenAI-compatible or Anthropic server's model list (`answers`).

Why not the Ollama client: the health check runs at launch and whenever the server is down, and the
Settings model list opens with the dialog. The client's httpx and the ollama library cost the idle tray
app about 30 MB of resident memory and 100 ms of launch (issue #17), for two GETs that need neither. The
same guarantees as the client's guarded calls: one deadline for the whole exchange (connect, TLS, a
server trickling its headers a byte at a time), a cap on what is read, no compressed replies (a gzip bomb
cannot grow past the cap), and clear `LLMError`s worded as the client words them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from ..core.ports import LLMError
from ..core.present import count_of

VERSION_MAX_BYTES = 64 * 1024
TAGS_MAX_BYTES = 4 * 1024 * 1024  # a server with hundreds of models


def _unreachable(host: str, who: str) -> LLMError:
    if who == "Ollama":
        return LLMError(
            "unreachable",
            f"cannot reach Ollama at {host}",
            "start Ollama (`ollama serve`) or check the host in Settings",
        )
    return LLMError(
        "unreachable",
        f"cannot reach {who} at {host}",
        "start the server, or check its URL: heartbeat-desktop provider list",
    )


def get_json(
    host: str,
    path: str,
    timeout_s: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    *,
    who: str = "Ollama",
) -> Any:
    """GET `host + path` and return its JSON, within `timeout_s` for everything. Raises LLMError naming the
    server as `who` (the app's Ollama, or a provider by its name)."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMError("unreachable", f"not an http(s) address: {host!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout_s

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    base = parts.path.rstrip("/")
    lines = [
        f"GET {base}{path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Accept: application/json",
        "Accept-Encoding: identity",
        "Connection: close",
        "User-Agent: heartbeat-desktop",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    raw = bytearray()
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=left())
        try:
            if parts.scheme == "https":
                import ssl  # only for an https host: it is not free either

                sock.settimeout(left())
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
            sock.settimeout(left())
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            while True:
                sock.settimeout(left())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
                if len(raw) > max_bytes + 16384:
                    raise LLMError("invalid_reply", f"{who} at {host} sent more than {max_bytes // 1024} KiB")
        finally:
            sock.close()
    except TimeoutError:
        raise LLMError("timeout", f"{who} at {host} did not answer within {timeout_s:g} s") from None
    except ConnectionRefusedError:
        raise _unreachable(host, who) from None
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno in (101, 111, 113):  # no such host/network/route
            raise _unreachable(host, who) from None
        if "WRONG_VERSION_NUMBER" in str(exc):
            raise LLMError(
                "unreachable", f"{host} does not speak https (is the address http:// rather than https://?)"
            ) from None
        raise LLMError("http_error", f"HTTP error talking to {who} at {host}: {exc.strerror or exc}") from None
    return _parse(bytes(raw), host, who)


def _parse(raw: bytes, host: str, who: str = "Ollama") -> Any:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise LLMError("http_error", f"{who} at {host} closed the connection before its reply was complete")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise LLMError("http_error", f"{host} did not answer as an HTTP server") from None
    fields: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("content-encoding", "identity").lower() != "identity":
        raise LLMError("invalid_reply", f"{who} at {host} sent a compressed reply, which is refused")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _unchunk(body)
    if 300 <= status < 400:
        where = fields.get("location", "somewhere else")
        raise LLMError(
            "http_error", f"{host} redirects to {where} (HTTP {status}); set that address instead", status=status
        )
    if status >= 400:
        text = " ".join(re.sub(r"<[^>]*>", " ", body.decode("utf-8", "replace")).split())
        text = text if len(text) <= 120 else text[:119] + "…"
        raise LLMError("http_error", f"{who} at {host} answered HTTP {status}: {text}", status=status)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise LLMError("invalid_reply", f"{host} did not answer with JSON (is it {who}?)") from None


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def version(host: str, timeout_s: float = 5.0, *, who: str = "Ollama") -> str:
    """The server's version (the health check and Test connection)."""
    data = get_json(host, "/api/version", timeout_s, VERSION_MAX_BYTES, who=who)
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.strip():
        raise LLMError("invalid_reply", f"{host} answered, but not as Ollama does (no version at /api/version)")
    return _printable(version)[:40]


def answers(url: str, kind: str, who: str, timeout_s: float = 5.0) -> str:
    """Whether the OpenAI-compatible or Anthropic server of provider `who` answers at `url`, from its model
    list. No key is sent: the idle tray never reads the keyring for a health check, and a 401 or 404 is an
    answer too (a refused key is the heartbeat's to report, in words). Raises LLMError when nothing answers."""
    path = "/models" if kind == "openai" else "/v1/models"
    try:
        data = get_json(url, path, timeout_s, TAGS_MAX_BYTES, who=who)
    except LLMError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return f"{who} answers at {url}"
        raise
    listed = data.get("data") if isinstance(data, dict) else None
    count = f": {count_of(len(listed), 'model')}" if isinstance(listed, list) else ""
    return f"{who} at {url}{count}"


def model_names(host: str, timeout_s: float = 10.0, headers: dict[str, str] | None = None) -> list[str]:
    """The models the server has (`/api/tags`), for the Settings model list. A name is shown as a person
    reads it, so one with control or direction-override characters (which can make it look like another
    model) is left out."""
    data = get_json(host, "/api/tags", timeout_s, TAGS_MAX_BYTES, headers)
    models = data.get("models", []) if isinstance(data, dict) else []
    names = (str(m.get("model") or m.get("name") or "") for m in models if isinstance(m, dict))
    return [name for name in names if name and _printable(name) == name and len(name) <= 200]


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub("", text)
