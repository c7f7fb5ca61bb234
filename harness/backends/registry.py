"""open_backend(): a backend by its record's name (harness/backends/catalog.py), or a custom
"module:callable" / "path.py:callable". Importing this module loads no engine: each factory is
imported when it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.backends import catalog
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.backends.base import Backend

ROLES = ("chat", "embedding")


def embed_backend_for(chat_backend: str, asked: str | None = None) -> str:
    """The backend of a lab's embedding model: the one asked for (--embed-backend), else in-process
    when chat goes to a server, since most servers people run (LM Studio, vLLM, llama-server) serve
    one chat model and no embedder; else the chat backend's (llama-cpp, or a custom one)."""
    if asked:
        return asked
    record = catalog.find(chat_backend)
    return catalog.DEFAULT_BACKEND if record is not None and record.is_server else chat_backend


def open_backend(
    backend: str = catalog.DEFAULT_BACKEND,
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
    """Open a loaded backend. Raises a HarnessError saying what to do when it cannot.

    A custom backend's callable gets (model, role=, device=, threads=) and only those other
    options that were set (n_ctx, base_url, verbose, **kw)."""
    record = catalog.find(backend)
    if record is None and not catalog.is_custom(backend):
        raise HarnessError(
            f"unknown backend {backend!r}",
            hint=f"use one of: {', '.join(sorted(catalog.names()))} (or module:callable for your own)",
        )
    if role not in ROLES:
        raise HarnessError(f"unknown role {role!r}", hint="use role='chat' or role='embedding'")
    if record is None:
        options = {k: v for k, v in dict(n_ctx=n_ctx, base_url=base_url, verbose=verbose).items() if v}
        return catalog.load_callable(backend)(model, role=role, device=device, threads=threads, **options, **kw)
    if role == "embedding" and not record.capabilities.embeddings:
        raise HarnessError(
            f"the {backend} backend cannot serve embedding models",
            hint=f"embed with another backend: --embed-backend {catalog.DEFAULT_BACKEND}",
        )
    factory = catalog.load_callable(record.factory)
    return factory(
        model, role=role, device=device, threads=threads, n_ctx=n_ctx, base_url=base_url, verbose=verbose, **kw
    )
