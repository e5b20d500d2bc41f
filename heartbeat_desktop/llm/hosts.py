"""Where the Ollama server is: the configured address, resolved as Ollama itself reads it.

Its own module, free of the HTTP client, so the health probe and `status` can name the server without
importing httpx and the ollama library (issue #17).
"""

from __future__ import annotations

import os
import re

from ..core.app_settings import check_host

DEFAULT_HOST = "http://127.0.0.1:11434"

__all__ = ["DEFAULT_HOST", "host_problem", "resolve_host"]


CREDENTIALS_REMOVED = "[credentials removed]"


def resolve_host(configured: str | None) -> str:
    """Settings win, then $OLLAMA_HOST, then Ollama's default. As Ollama reads it: "host:port" without a
    scheme is http, and a host without a port is port 11434 over http (443 over https) — so the common
    `OLLAMA_HOST=0.0.0.0` means the local server, not port 80."""
    host = (configured or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, _, rest = host.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        # A user name or password in $OLLAMA_HOST: never kept, shown, logged or stored (it was, in the run's
        # reason, `status` and the log). The address is marked unusable; host_problem says why.
        host = f"{scheme}://{CREDENTIALS_REMOVED}@{authority.rpartition('@')[2]}{slash}{path}"
        return host
    match = _AUTHORITY.match(host)
    if match and match.group(3) is None:
        port = 443 if match.group(1).lower() == "https" else 11434
        host = f"{match.group(1)}://{match.group(2)}:{port}{match.group(4) or ''}"
    return host


def host_problem(host: str) -> str | None:
    """Why `host` cannot be a server address (a port out of range, a cut IPv6 address), or None."""
    if CREDENTIALS_REMOVED in host:
        return (
            "the Ollama address holds a user name or password, which the app never stores or sends: remove it "
            "from OLLAMA_HOST (a key goes in the keyring: heartbeat-desktop provider set-key ollama)"
        )
    try:
        check_host(host)
    except ValueError as exc:
        return str(exc)
    return None


_AUTHORITY = re.compile(r"^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d+))?(/\S*)?$", re.IGNORECASE)
