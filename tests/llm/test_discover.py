"""Finding the model servers on this computer (llm/discover.py): real servers on loopback, each speaking its
protocol; a port that accepts and never answers; a port where nothing listens; and the usual ports themselves.

The usual-port tests bind a real server on 127.0.0.1:11434, :1234, :8080 or :8000 when that port is free. When
it is taken (a real Ollama on the developer's machine, another program), the test is skipped and says so: what
answers there is not ours to script, so nothing about it could be asserted."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from heartbeat_desktop.llm import discover
from tests.support.ollama_server import OllamaServer
from tests.support.provider_servers import ProviderServer


def _root(server: ProviderServer) -> str:
    return server.base_url.removesuffix("/v1")


@pytest.fixture
def servers() -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {
        "ollama": OllamaServer().start(),
        "lmstudio": ProviderServer("openai", key=None, models=("qwen2.5-7b-instruct",), owned_by="organization_owner"),
        "vllm": ProviderServer("openai", key=None, models=("Qwen/Qwen2.5-1.5B-Instruct",), owned_by="vllm"),
        "llamacpppy": ProviderServer("openai", key=None, models=("models/smol.gguf",), owned_by="me"),
        "llamacpp": ProviderServer("openai", key=None, models=("smol",), owned_by="llamacpp"),
        "props": ProviderServer("openai", key=None, models=("smol",), owned_by=None),
        "unknown": ProviderServer("openai", key=None, models=("some-model",), owned_by="someone"),
        "keyed": ProviderServer("openai", key="secret-key", models=("gpt-x",)),
    }
    made["props"].routes["/props"] = {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1}
    yield made
    for server in made.values():
        server.stop()


def test_each_server_is_known_by_what_it_answers(servers: dict[str, Any]) -> None:
    urls = {name: s.url if name == "ollama" else _root(s) for name, s in servers.items()}
    found = discover.look(tuple(urls.values()))
    by_address = {s.address: s for s in found.servers}
    assert not found.silent and set(by_address) == set(urls.values())

    ollama = by_address[urls["ollama"]]
    assert (ollama.kind, ollama.name, ollama.base_url) == ("ollama", "ollama", urls["ollama"])
    assert ollama.models == ("llama3.2:latest", "qwen3:4b")
    port = lambda name: urls[name].rsplit(":", 1)[1]  # noqa: E731
    expected = {
        "lmstudio": (f"LM Studio on :{port('lmstudio')}", "lmstudio", ("qwen2.5-7b-instruct",)),
        "vllm": (f"vLLM on :{port('vllm')}", "vllm", ("Qwen/Qwen2.5-1.5B-Instruct",)),
        "llamacpppy": (f"llama-cpp-python on :{port('llamacpppy')}", "llamacpppy", ("models/smol.gguf",)),
        "llamacpp": (f"llama.cpp server on :{port('llamacpp')}", "llamacpp", ("smol",)),
        "props": (f"llama.cpp server on :{port('props')}", "llamacpp", ("smol",)),  # known by /props
        "unknown": (f"OpenAI-compatible server on :{port('unknown')}", "local", ("some-model",)),
    }
    for name, (label, provider, models) in expected.items():
        server = by_address[urls[name]]
        assert (server.label, server.name, server.models, server.kind) == (label, provider, models, "openai"), name
        assert server.base_url == urls[name] + "/v1"
    keyed = by_address[urls["keyed"]]
    assert keyed.models == () and "API key" in keyed.note
    assert not any(r["headers"].get("Authorization") for r in servers["keyed"].requests)  # no key is ever sent


class _NotAModelServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a web page</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_silent_port_a_dead_one_and_a_web_page_are_said_and_never_hang() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does), never answers
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    web = ThreadingHTTPServer(("127.0.0.1", 0), _NotAModelServer)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    addresses = (
        f"http://127.0.0.1:{silent.getsockname()[1]}",
        f"http://127.0.0.1:{dead_port}",
        f"http://127.0.0.1:{web.server_address[1]}",
    )
    try:
        started = time.monotonic()
        found = discover.look(addresses, per_address_s=1.0)
        took = time.monotonic() - started
    finally:
        silent.close()
        web.shutdown()
        web.server_close()
    assert found.servers == ()
    assert found.silent == {
        addresses[0]: "did not answer within 1 s",
        addresses[1]: "nothing listens there",
        addresses[2]: "answers, but not as a model server does",
    }
    assert took < 2.0  # asked at once, each within its deadline: not one after the other


def test_the_addresses_come_from_the_environment_or_are_the_usual_ones() -> None:
    assert discover.addresses({}) == discover.USUAL_ADDRESSES
    assert discover.USUAL_ADDRESSES == tuple(f"http://127.0.0.1:{p}" for p in (11434, 1234, 8080, 8000))
    given = {discover.ADDRESSES_ENV: " http://127.0.0.1:5000/ ,http://127.0.0.1:5001"}
    assert discover.addresses(given) == ("http://127.0.0.1:5000", "http://127.0.0.1:5001")


def test_model_names_from_a_server_are_shown_only_when_printable(servers: dict[str, Any]) -> None:
    server = servers["unknown"]
    server.models = ["fine", "evil\x1b[31mred", "rtl\u202eeliF"]
    found = discover.look((_root(server),))
    assert found.servers[0].models == ("fine",)
    assert json.loads(json.dumps(found.to_dict()))["servers"][0]["label"].startswith("OpenAI-compatible server")


def _bind_or_skip(make: Any, port: int) -> Any:
    try:
        return make(port)
    except OSError as exc:
        pytest.skip(f"port {port} on 127.0.0.1 is taken by another program ({exc.strerror}); what answers there "
                    "is not this test's to script")  # fmt: skip


@pytest.mark.parametrize(
    ("port", "label"),
    [(11434, "Ollama on :11434"), (1234, "LM Studio on :1234"), (8080, "llama.cpp server on :8080"),
     (8000, "vLLM on :8000")],
)  # fmt: skip
def test_a_server_on_its_usual_port_is_found_without_being_named(
    port: int, label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(discover.ADDRESSES_ENV, raising=False)
    owner = {1234: "organization_owner", 8080: "llamacpp", 8000: "vllm"}
    if port == 11434:
        server: Any = _bind_or_skip(lambda p: OllamaServer(port=p).start(), port)
    else:
        server = _bind_or_skip(
            lambda p: ProviderServer("openai", key=None, models=("m1",), owned_by=owner[p], port=p), port
        )
    try:
        found = discover.look()  # the usual addresses: nothing told it where to look
    finally:
        server.stop()
    ours = [s for s in found.servers if s.address == f"http://127.0.0.1:{port}"]
    assert [s.label for s in ours] == [label]
    assert ours[0].models
