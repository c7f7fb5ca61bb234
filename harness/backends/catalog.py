"""Every backend the harness ships, one record each. The CLI's --backend help, `harness doctor`'s
server rows, the base-URL environment variables, the labs' and benches' backend loading and the
table in docs/backends.md all derive from BACKENDS; adding a backend is one record here plus its
module.

Stdlib only, and factories are "module:callable" strings imported on first use, so the CLI
imports this without numpy or an engine (`harness --help` stays fast).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    chat: bool
    embeddings: bool
    streaming: bool
    json_schema: bool  # chat(schema=...) constrains the answer to a JSON schema
    gpu_offload: bool  # the harness places layers on the GPU (--device); else the server decides


@dataclass(frozen=True)
class NumericsEffect:
    """A difference in settings measured to change a backend's answers at temperature 0. The bench's
    comparison (harness/bench/compare.py, comparability.py) reads these instead of knowing backends."""

    setting: str  # differs between the two runs, e.g. "threads"
    needs: str  # a switch that must be on (in both runs, or either where they differ), e.g. "flash_attn"
    device: str  # both runs on this device
    why: str  # the measured cause, one clause; "{a}" and "{b}" are the two values of `setting`
    measured_in: str  # where the measurement is kept (a test, a doc)

    def applies(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        """a, b: each run's settings by name (setting, needs, "device")."""
        return (
            a.get(self.setting) != b.get(self.setting)
            and bool(a.get(self.needs) or b.get(self.needs))
            and a.get("device") == b.get("device") == self.device
        )

    def text(self, a: dict[str, Any], b: dict[str, Any]) -> str:
        return self.why.format(a=a.get(self.setting), b=b.get(self.setting))


@dataclass(frozen=True)
class BackendRecord:
    name: str  # the --backend value
    factory: str  # "module:callable" taking (model, *, role, device, threads, n_ctx, base_url, verbose, **kw)
    description: str  # one line: where the model runs, which model names it takes, whose timings
    capabilities: Capabilities
    base_url_env: str | None = None  # a server backend's URL variable: --base-url is exported there for child processes
    default_base_url: str | None = None  # used when neither --base-url nor the variable is set
    title: str = ""  # the row label in `harness doctor`
    status: str | None = None  # "module:callable" -> dict for `harness doctor` (reachable, models, hint, ...)
    start_hint: str = ""  # how to get a server running: doctor's fix when it is not reachable
    numerics_effects: tuple[NumericsEffect, ...] = ()  # known causes of answers that differ between runs

    @property
    def is_server(self) -> bool:
        return self.base_url_env is not None


_OFFLOADING = Capabilities(chat=True, embeddings=True, streaming=True, json_schema=True, gpu_offload=True)
_SERVED = Capabilities(chat=True, embeddings=True, streaming=True, json_schema=True, gpu_offload=False)

BACKENDS: tuple[BackendRecord, ...] = (
    BackendRecord(
        name="llama-cpp",
        factory="harness.backends.llama_cpp:open_llama_cpp",
        description="in this process (llama-cpp-python); models.lock names or a path to a `.gguf`; llama.cpp's own timings",
        capabilities=_OFFLOADING,
        title="llama.cpp",
        numerics_effects=(
            NumericsEffect(
                setting="threads",
                needs="flash_attn",
                device="cpu",
                why="{a} vs {b} threads with flash attention on: llama.cpp's CPU flash attention splits the KV cache "
                "across the threads when decoding with 512 or more cells, so decode logits depend on the thread "
                "count (with flash attention off they are bit-identical)",
                measured_in="tests/backends/test_llama_cpp.py, docs/benchmarks.md",
            ),
        ),
    ),
    BackendRecord(
        name="ollama",
        factory="harness.backends.ollama:open_ollama",
        description="an Ollama server; models.lock names map to their `ollama` tag, other names are Ollama tags; "
        "Ollama's own timing fields",
        capabilities=_SERVED,
        base_url_env="OLLAMA_HOST",
        default_base_url="http://127.0.0.1:11434",
        title="Ollama",
        status="harness.backends.ollama:server_status",
        start_hint="start it with `ollama serve` (https://ollama.com/download)",
    ),
    BackendRecord(
        name="openai",
        factory="harness.backends.openai_compat:open_openai",
        description="any OpenAI-compatible server (llama-server, llama-cpp-python, LM Studio, vLLM); the server's "
        "model ids (`GET /v1/models`); timings measured client-side",
        capabilities=_SERVED,
        base_url_env="HARNESS_OPENAI_BASE_URL",
        title="OpenAI",
        status="harness.backends.openai_compat:server_status",
        start_hint="start the server (e.g. `python -m llama_cpp.server --model FILE.gguf --model_alias NAME`, "
        "`llama-server -m FILE.gguf`, `vllm serve MODEL`)",
    ),
)
DEFAULT_BACKEND = BACKENDS[0].name


# Where a backend may place the model (--device): the CLI, the bench matrix and choose_device check with this
DEVICES = ("cpu", "gpu", "auto")


def check_device(device: str) -> str:
    """device itself when it is one of DEVICES; else a DeviceError with the fix."""
    if device not in DEVICES:
        from harness.errors import DeviceError

        raise DeviceError(
            f"unknown device {device!r}", hint="use --device " + ", ".join(DEVICES[:-1]) + f" or {DEVICES[-1]}"
        )
    return device


def numerics_effects() -> list[NumericsEffect]:
    """Every backend's known effects: a result file's settings do not always say which backend ran
    (`harness compare --by-backend` columns), and an effect's own conditions are specific enough."""
    return [e for b in BACKENDS for e in b.numerics_effects]


def names() -> list[str]:
    return [b.name for b in BACKENDS]


def server_backends() -> list[BackendRecord]:
    return [b for b in BACKENDS if b.is_server]


def find(name: str) -> BackendRecord | None:
    """The record called `name`; None for a custom "module:callable" backend or a typo."""
    return next((b for b in BACKENDS if b.name == name), None)


def record(name: str) -> BackendRecord:
    """The record of a backend the harness ships (KeyError otherwise)."""
    found = find(name)
    if found is None:
        raise KeyError(name)
    return found


def choices_help() -> str:
    """The --backend help text: "llama-cpp | ollama | openai"."""
    return " | ".join(names())


def base_url_help() -> str:
    """The --base-url help text of a command with one backend."""
    servers = server_backends()
    return (
        f"Server URL for --backend {' / '.join(b.name for b in servers)} "
        f"(else {' / '.join(str(b.base_url_env) for b in servers)})."
    )


def is_custom(spec: str) -> bool:
    """ "module:callable" or "path.py:callable": a backend from outside the harness (a URL is not one)."""
    return ":" in spec and not spec.startswith(("http://", "https://"))


def import_file(name: str, path: Path) -> ModuleType:
    """Import a .py file as module `name` (a custom backend here; graders and learners' files in
    harness/labs/child.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_callable(spec: str) -> Callable[..., Any]:
    """Import "module:callable" or "path/to/file.py:callable". The records' factories and statuses
    load through here, and so does a custom backend (the engine's tests use a fake one this way)."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        module = import_file(f"_harness_backend_{abs(hash(target))}", Path(target))
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


# ----------------------------------------------------------------------------- docs/backends.md

DOCS_TABLE_START = "<!-- backends table: generated by harness.backends.catalog.docs_table() -->"
DOCS_TABLE_END = "<!-- end of the backends table -->"
_CAPABILITY_HEADERS = {
    "chat": "chat",
    "embeddings": "embeddings",
    "streaming": "streaming",
    "json_schema": "JSON schema",
    "gpu_offload": "GPU offload (`--device`)",
}


def _server_url(b: BackendRecord) -> str:
    if not b.is_server:
        return "none (in process)"
    default = f", else `{b.default_base_url}`" if b.default_base_url else " (no default)"
    return f"`--base-url`, else `{b.base_url_env}`{default}"


def _mark(b: BackendRecord, capability: str) -> str:
    if getattr(b.capabilities, capability):
        return "yes"
    return "the server's" if capability == "gpu_offload" and b.is_server else "no"


def docs_table() -> str:
    """The markdown table docs/backends.md carries between DOCS_TABLE_START and DOCS_TABLE_END
    (tests/backends/test_catalog.py fails when they differ)."""
    caps = [f.name for f in fields(Capabilities)]
    head = ["`--backend`", "what it is", "server URL", *(_CAPABILITY_HEADERS[c] for c in caps)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in BACKENDS:
        name = f"`{b.name}`" + (" (default)" if b.name == DEFAULT_BACKEND else "")
        rows.append("| " + " | ".join([name, b.description, _server_url(b), *(_mark(b, c) for c in caps)]) + " |")
    return "\n".join(rows)
