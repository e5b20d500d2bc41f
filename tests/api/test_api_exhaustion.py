"""The local API against a hostile local process: idle connections, lying headers, broken Unicode, and a
process out of file descriptors. Any local process can connect without a token, so connections
themselves must be bounded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from heartbeat_desktop.api import server as api_server
from heartbeat_desktop.api.server import ApiFiles, ControlAPI
from heartbeat_desktop.store import SqliteStore
from tests.conftest import REPO
from tests.qt.app_parts import RecordingApp


@pytest.fixture
def control(data_dir: Path, qtbot):
    SqliteStore(data_dir / "heartbeat.db").close()
    app = RecordingApp(data_dir / "heartbeat.db")
    files = ApiFiles(heartbeat_md=data_dir / "HEARTBEAT.md", db=data_dir / "heartbeat.db")
    api = ControlAPI(app.control, files, lambda: "tok", 0).start()
    yield api
    api.stop()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _status(api: ControlAPI, timeout: float = 5) -> httpx.Response:
    return httpx.get(f"{api.url}/api/heartbeat/status", headers={"Authorization": "Bearer tok"}, timeout=timeout)


def test_idle_half_requests_are_bounded_and_cut(control: ControlAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _open_fds()
    cpu0 = time.process_time()
    attackers = []
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", control.port))
        sock.sendall(b"GET /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1")  # and never the rest
        attackers.append(sock)
    time.sleep(1.0)
    # Our side holds at most the cap (the other 268 were closed at once); the attackers' ends are in this
    # process too, so count theirs out.
    held = _open_fds() - before - len(attackers)
    assert held <= api_server.MAX_CONNECTIONS + 2, held
    closed = 0
    for sock in attackers:
        sock.settimeout(0.01)
        try:
            if sock.recv(1) == b"":
                closed += 1
        except (TimeoutError, BlockingIOError):
            pass
        except ConnectionError:
            closed += 1
    assert closed >= len(attackers) - api_server.MAX_CONNECTIONS
    # Once the deadline passes the idle ones are cut too, and a real request is served again.
    deadline = time.monotonic() + api_server.CONNECTION_DEADLINE_S + 5
    while True:
        try:
            if _status(control).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the API never served again"
        time.sleep(0.5)
    assert time.process_time() - cpu0 < 5.0  # no spinning while under attack
    for sock in attackers:
        sock.close()


def test_a_trickling_request_is_cut_at_its_deadline(control: ControlAPI) -> None:
    sock = socket.create_connection(("127.0.0.1", control.port))
    t0 = time.monotonic()
    cut = False
    request = b"GET /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            cut = True
            break
        sock.settimeout(0.01)
        try:
            if sock.recv(1) == b"":
                cut = True
                break
        except (TimeoutError, BlockingIOError):
            pass
        except ConnectionError:
            cut = True
            break
        time.sleep(0.2)  # well inside the per-read timeout: only the deadline can stop this
    sock.close()
    assert cut and time.monotonic() - t0 < api_server.CONNECTION_DEADLINE_S + 3


def test_negative_content_length_is_refused_not_read_to_the_end(control: ControlAPI) -> None:
    sock = socket.create_connection(("127.0.0.1", control.port))
    sock.sendall(
        b"POST /api/threads/default/messages HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer tok\r\n"
        b"Content-Length: -5\r\nContent-Type: application/json\r\n\r\n"
        % control.port
        + b'{"text": "'
        + b"x" * 200_000
        + b'"}'
    )
    sock.settimeout(5)
    answer = b""
    while b"bad Content-Length" not in answer:  # headers and body may come in separate segments
        try:
            chunk = sock.recv(4096)
        except (TimeoutError, ConnectionError):
            break
        if not chunk:
            break
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"bad Content-Length" in answer


def test_a_lone_surrogate_is_a_400_not_a_500(control: ControlAPI, data_dir: Path) -> None:
    response = httpx.post(
        f"{control.url}/api/threads/default/messages",
        content=b'{"text": "broken \\ud800 text"}',
        headers={"Authorization": "Bearer tok", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400 and "not valid Unicode" in response.json()["error"]
    store = SqliteStore(data_dir / "heartbeat.db")
    assert store.threads.messages("default") == []
    store.close()


def test_out_of_descriptors_backs_off_instead_of_spinning(tmp_path: Path) -> None:
    """In a child whose descriptor limit is nearly used up: accept fails with EMFILE; the loop must sleep
    (not spin at full CPU) and tell the app, then serve again when descriptors are back."""
    script = textwrap.dedent(
        f"""
        import os, resource, socket, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from heartbeat_desktop.api.http import BoundedServer
        from http.server import BaseHTTPRequestHandler
        pressure = []
        server = BoundedServer(("127.0.0.1", 0), BaseHTTPRequestHandler, lambda: pressure.append(time.monotonic()))
        import threading
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        used = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 2, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        hogs = []
        try:
            while True:
                hogs.append(socket.socket())
        except OSError:
            pass
        print("ready", port, flush=True)
        sys.stdin.readline()   # the test connects from outside now
        cpu0 = time.process_time(); time.sleep(3); cpu = time.process_time() - cpu0
        for h in hogs: h.close()
        time.sleep(1.5)
        print("cpu", cpu, "pressure", len(pressure), flush=True)
        sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        port = int(child.stdout.readline().split()[1])
        outside = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]  # queued, not accepted
        child.stdin.write("go\n")
        child.stdin.flush()
        _, cpu, _, pressure = child.stdout.readline().split()
        assert float(cpu) < 1.0, cpu  # a spinning accept loop burns ~3 s of CPU in 3 s
        assert int(pressure) >= 2  # told the app when descriptors ran out, and when they came back
        for sock in outside:
            sock.close()
        child.stdin.write("done\n")
        child.stdin.flush()
    finally:
        child.kill()
        child.wait(5)


def _raw(control: ControlAPI, head: bytes) -> bytes:
    sock = socket.create_connection(("127.0.0.1", control.port))
    sock.sendall(head)
    sock.settimeout(5)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    sock.close()
    return answer


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 2\r\nContent-Length: 200\r\n",  # which one? a proxy and we could disagree
        b"Content-Length:  2x\r\n",
        b"Content-Length: \xd9\xa2\r\n",  # an Arabic-Indic digit two: isdigit() says yes
    ],
)
def test_ambiguous_lengths_are_refused(control: ControlAPI, headers: bytes) -> None:
    answer = _raw(
        control,
        b"POST /api/threads/default/messages HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer tok\r\n"
        % control.port
        + headers
        + b"\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]


def test_two_host_headers_are_refused(control: ControlAPI) -> None:
    answer = _raw(
        control,
        b"GET /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: evil.example\r\n"
        b"Authorization: Bearer tok\r\n\r\n" % control.port,
    )
    # A malformed request, like two Authorization headers: RFC 9112 §3.2 asks for a 400.
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]


def test_a_real_client_is_served_while_the_slots_are_held_by_idle_connections(control: ControlAPI) -> None:
    """Found by the adversarial pass: any local user, without the token, could fill the 32 slots with
    half-sent requests and lock scripts out (0 successes while it lasted). The oldest connection still
    sending its request is now cut to make room."""
    attackers = []
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", control.port))
        sock.sendall(b"GET /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1")
        attackers.append(sock)
    time.sleep(0.5)
    served = 0
    t0 = time.monotonic()
    for _ in range(10):
        try:
            served += _status(control).status_code == 200
        except httpx.HTTPError:
            pass
        # the attacker keeps refilling: each real request races fresh idle connections
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", control.port))
            sock.sendall(b"GET /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1")
            attackers.append(sock)
    elapsed = time.monotonic() - t0
    for sock in attackers:
        sock.close()
    assert served == 10 and elapsed < api_server.CONNECTION_DEADLINE_S, (served, elapsed)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"get /api/heartbeat/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"501"),  # methods are case-sensitive
        (b"GET /api/heartbeat/status HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (b"GET /a b HTTP/1.1\r\n\r\n", b"400"),  # a request line of four words
    ],
)
def test_what_the_standard_library_refuses_is_answered_in_json(
    control: ControlAPI, request_bytes: bytes, status: bytes
) -> None:
    """The README-only attack (#25): these got the standard library's HTML error page, every other error JSON."""
    sock = socket.create_connection(("127.0.0.1", control.port))
    sock.settimeout(10)
    sock.sendall(request_bytes)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == status, head
    assert b"application/json" in head and "error" in json.loads(body), answer[:300]
