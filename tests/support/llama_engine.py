"""A real inference engine for the tests: llama.cpp (through llama-cpp-python) running SmolLM2-135M.

Scripted servers only agree with the app's own assumptions; this one is the engine Ollama and LM Studio
run. A request's `format` is turned into a grammar the way Ollama does it (llama.cpp's JSON-schema
converter, then llama.cpp's grammar parser), so a schema that llama.cpp cannot compile fails here as it
does under Ollama — as an error, not a crash: llama-cpp-python would hand the parser's NULL sampler on
and segfault, so the grammar is compiled and checked first.

Where the model comes from: `HEARTBEAT_TEST_GGUF` names the file; otherwise the cache that
`packaging/dev-env.sh` fills (`~/.cache/heartbeat-desktop-dev/`).
"""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "smollm2:135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("HEARTBEAT_DEV_CACHE", Path.home() / ".cache" / "heartbeat-desktop-dev"))

# Ollama's sampling defaults (its Modelfile parameters), so the model behaves as it would under Ollama.
OLLAMA_DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.9, "repeat_penalty": 1.1}


# Ollama converts `format` with llama.cpp's C++ converter (common/json-schema-to-grammar.cpp).
# llama-cpp-python ships an older Python port whose primitives differ in two ways that matter: its
# string characters admit raw control characters (a newline inside a string: not JSON), and its
# whitespace is one optional space. The C++ primitives are put back, so this engine's grammar is
# Ollama's. (llama-cpp-python's own server keeps the old port: that is what its users get.)
_CPP_PRIMITIVES = {
    "char": r'char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})',
    "space": r'space ::= | " " | "\n"{1,2} [ \t]{0,20}',
}


def ollama_gbnf(python_port_gbnf: str) -> str:
    """The Python port's grammar with llama.cpp's C++ primitive rules, as Ollama would build it."""
    lines = []
    for line in python_port_gbnf.splitlines():
        name = line.split("::=", 1)[0].strip()
        lines.append(_CPP_PRIMITIVES.get(name, line))
    return "\n".join(lines)


class GrammarError(ValueError):
    """llama.cpp could not turn the request's format into a grammar (the message is llama.cpp's)."""


def model_path() -> Path | None:
    """The GGUF file to run, or None when this machine has none (see the module docstring)."""
    named = os.environ.get("HEARTBEAT_TEST_GGUF")
    if named:
        return Path(named) if Path(named).is_file() else None
    found = CACHE / "model" / GGUF_NAME
    return found if found.is_file() else None


def engine_available() -> str | None:
    """None when the engine can run here, else why not (a test skips with it, or fails under CI)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "llama-cpp-python is not installed (run packaging/dev-env.sh)"
    if model_path() is None:
        return f"no {GGUF_NAME} (set HEARTBEAT_TEST_GGUF or run packaging/dev-env.sh)"
    return None


@dataclass
class Finished:
    done_reason: str
    prompt_tokens: int
    completion_tokens: int


class LlamaEngine:
    """One loaded model; requests are served one at a time (as a single Ollama runner does)."""

    def __init__(self, path: Path, *, n_ctx: int = 4096, threads: int | None = None) -> None:
        from llama_cpp import Llama, llama_cpp

        self._ll = llama_cpp
        self._log: list[str] = []
        self._log_lock = threading.Lock()

        def capture(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
            if level >= 2:  # warnings and errors: what the grammar parser says when it refuses
                with self._log_lock:
                    self._log.append(text.decode("utf-8", "replace"))

        self._callback = llama_cpp.llama_log_callback(capture)  # keep a reference: C holds the pointer
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))
        # One thread unless asked: ggml's threads spin-wait on each other, so two threads on a machine whose other
        # core is busy (the parallel suite) ran a heartbeat test 6.5x slower (566 s against 86 s idle); one thread
        # only shares the core it gets. llama-server's tests run it with one thread for the same reason.
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads or 1, verbose=False, seed=1)
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ grammars
    def grammar_for(self, fmt: Any) -> Any:
        """Ollama's `format` → a compiled-checked llama.cpp grammar (None: free text). Raises GrammarError."""
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import JSON_GBNF

        if fmt in (None, "", "null"):
            return None
        if fmt == "json":
            gbnf = JSON_GBNF
        elif isinstance(fmt, dict):
            try:
                gbnf = ollama_gbnf(LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)._grammar)
            except Exception as exc:  # the converter's own refusal: Ollama says "invalid JSON schema in format"
                raise GrammarError(f"invalid JSON schema in format: {exc}") from None
        else:
            raise GrammarError(f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON Schema object')
        self.check_grammar(gbnf)
        return LlamaGrammar.from_string(gbnf, verbose=False)

    def check_grammar(self, gbnf: str) -> None:
        """Let llama.cpp's grammar parser compile `gbnf`; raise GrammarError with its message if it refuses.

        The parser writes its reason straight to stderr (then the whole grammar), not through the log
        callback: stderr is borrowed for the call so the reason can be returned to the client.
        """
        with self._log_lock:
            self._log.clear()
        with tempfile.TemporaryFile() as err:
            saved = os.dup(2)
            os.dup2(err.fileno(), 2)
            try:
                sampler = self._ll.llama_sampler_init_grammar(self.llm._model.vocab, gbnf.encode(), b"root")
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            err.seek(0)
            stderr_text = err.read(4000).decode("utf-8", "replace")
        if not sampler:
            with self._log_lock:
                texts = [stderr_text, *self._log]
            # llama.cpp states its reason followed by the whole grammar: keep the reasons only.
            said = " ".join(t.split("\n\n")[0].strip() for t in texts if t.strip())[:400]
            raise GrammarError(f"failed to create sampling context: llama.cpp refused the grammar ({said})")
        self._ll.llama_sampler_free(sampler)

    # ------------------------------------------------------------------ generation
    def chat(
        self, messages: list[dict[str, str]], fmt: Any, options: dict[str, Any], stop_event: threading.Event
    ) -> Iterator[str | Finished]:
        """Stream the reply's pieces, then one `Finished`. Raises GrammarError before the first piece."""
        params = {**OLLAMA_DEFAULTS, **{k: v for k, v in options.items() if k in OLLAMA_DEFAULTS}}
        max_tokens = int(options.get("num_predict", 128))
        with self.lock:
            grammar = self.grammar_for(fmt)
            stream = self.llm.create_chat_completion(
                messages=messages,
                grammar=grammar,
                max_tokens=max_tokens if max_tokens > 0 else None,
                seed=options.get("seed"),
                stream=True,
                **params,
            )
            pieces = 0
            reason = "stop"
            for chunk in stream:
                if stop_event.is_set():
                    break
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                if text:
                    pieces += 1
                    yield text
                if choice.get("finish_reason"):
                    reason = "length" if choice["finish_reason"] == "length" else "stop"
            prompt_tokens = max(0, self.llm.n_tokens - pieces)
        yield Finished(reason, prompt_tokens, pieces)
