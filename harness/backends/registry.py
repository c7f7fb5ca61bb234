"""open_backend(): a name -> lazy factory table, so importing this module loads no engine.

Each factory imports its engine only when called. "openai" and "ollama" are added by their
module's owner (harness/backends/openai_compat.py, harness/backends/ollama.py) in the same shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from harness.backends.base import Backend
from harness.errors import BackendError, HarnessError

Factory = Callable[..., Backend]


def model_file(model: str) -> Path:
    """A lock name ("smollm2-135m") through the store, or an explicit path to a .gguf file."""
    p = Path(model).expanduser()
    if p.suffix == ".gguf" and p.is_file():
        _check_header(p)
        return p
    from harness.models.store import resolve_model_path

    return resolve_model_path(model)


def _check_header(path: Path) -> None:
    # resolve_model_path checks pulled files; an explicit path gets the same check, because
    # llama.cpp aborts the whole process on some corrupt files.
    from harness.models.gguf_check import check_gguf_header

    check_gguf_header(path)


def _open_llama_cpp(model: str, *, role: str, device: str, threads: int | None, n_ctx: int | None,
                    base_url: str | None, verbose: bool, **kw: Any) -> Backend:
    if base_url:
        raise BackendError("the llama-cpp backend runs in this process and takes no base_url",
                           hint="drop --base-url, or use --backend openai / ollama for a server")
    from harness.backends.llama_cpp import LlamaCppBackend

    path = model_file(model)
    name = model if Path(model).suffix != ".gguf" else path.stem
    return LlamaCppBackend(path, model_name=name, role=role, device=device, threads=threads,
                           n_ctx=n_ctx, verbose=verbose, **kw)


def _open_openai(model: str, *, role: str, device: str, threads: int | None, n_ctx: int | None,
                 base_url: str | None, verbose: bool, **kw: Any) -> Backend:
    # device and threads belong to the server; it decides them.
    from harness.backends.openai_compat import OpenAIBackend

    return OpenAIBackend(model, base_url=base_url, role=role, n_ctx=n_ctx, **kw)


def _open_ollama(model: str, *, role: str, device: str, threads: int | None, n_ctx: int | None,
                 base_url: str | None, verbose: bool, **kw: Any) -> Backend:
    # device and threads belong to the Ollama server; base_url overrides OLLAMA_HOST.
    from harness.backends.ollama import OllamaBackend

    return OllamaBackend(model, base_url=base_url, role=role, n_ctx=n_ctx, **kw)


BACKENDS: dict[str, Factory] = {
    "llama-cpp": _open_llama_cpp,
    "openai": _open_openai,
    "ollama": _open_ollama,
}
SERVER_BACKENDS = ("openai", "ollama")


def embed_backend_for(chat_backend: str, asked: str | None = None) -> str:
    """The backend of a lab's embedding model: the one asked for (--embed-backend), else in-process
    when chat goes to a server, since most servers people run (LM Studio, vLLM, llama-server) serve
    one chat model and no embedder; else the chat backend's (llama-cpp, or a custom one)."""
    if asked:
        return asked
    return "llama-cpp" if chat_backend in SERVER_BACKENDS else chat_backend


def open_backend(
    backend: str = "llama-cpp",
    model: str = "smollm2-135m",
    *,
    role: str = "chat",
    device: str = "auto",
    threads: int | None = None,
    n_ctx: int | None = None,
    base_url: str | None = None,
    verbose: bool = False,
    **kw: Any,
) -> Backend:
    """Open a loaded backend. Raises a HarnessError saying what to do when it cannot."""
    factory = BACKENDS.get(backend)
    if factory is None:
        raise HarnessError(f"unknown backend {backend!r}", hint=f"use one of: {', '.join(sorted(BACKENDS))}")
    if role not in ("chat", "embedding"):
        raise HarnessError(f"unknown role {role!r}", hint="use role='chat' or role='embedding'")
    return factory(model, role=role, device=device, threads=threads, n_ctx=n_ctx,
                   base_url=base_url, verbose=verbose, **kw)
