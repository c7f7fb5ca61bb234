"""Pieces the HTTP backends (ollama, openai) share: lock-name mapping, stream timing,
and turning transport failures into HarnessErrors that say what to do next."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from harness.backends import catalog
from harness.backends.base import Timings
from harness.errors import BackendError, BackendUnavailable, LockError, ModelNotFound


def lock_entry(name: str):
    """The models.lock entry called `name`, or None when the name is not in the lock
    (then the HTTP backends pass it through as the server's own model name)."""
    try:
        from harness.models.lock import load_lock

        return load_lock().get(name)
    except (ModelNotFound, LockError):
        return None


def ollama_tag(name: str) -> str:
    """Lock name -> Ollama tag (`smollm2-135m` -> `smollm2:135m`); other names pass through."""
    entry = lock_entry(name)
    if entry is not None and entry.ollama:
        return entry.ollama
    return name


def transport_error(exc: Exception, url: str, *, what: str, start_hint: str) -> BackendError:
    """httpx failures -> BackendUnavailable (cannot connect) or BackendError (broken mid-way)."""
    import httpx

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
        return BackendUnavailable(f"{what} is not reachable at {url}", hint=start_hint)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return BackendError(
            f"{what} at {url} closed the connection in the middle of a response ({type(exc).__name__})",
            hint="the server probably crashed or was stopped: check its log, restart it and run again",
        )
    if isinstance(exc, httpx.TimeoutException):
        return BackendError(
            f"{what} at {url} did not answer in time ({type(exc).__name__})",
            hint="the server may be overloaded or stuck; check it, or raise the timeout",
        )
    return BackendError(f"{what} at {url}: {type(exc).__name__}: {exc}", hint="check the server's log")


def malformed(url: str, what: str, detail: str) -> BackendError:
    return BackendError(
        f"{what} at {url} sent a response the harness cannot read: {detail}",
        hint="is the URL really pointing at that kind of server? Check the URL and the server's version",
    )


@dataclass
class StreamClock:
    """Client-side timings of one request: start, first token, last token."""

    start: float = field(default_factory=time.perf_counter)
    first: float | None = None
    last: float | None = None

    def token(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now

    def timings(self, prompt_tokens: int, completion_tokens: int) -> Timings:
        """Client-side figures. Prefill speed counts the network round trip, so it is a lower bound."""
        end = time.perf_counter()
        t = Timings(load_s=0.0, total_s=end - self.start)
        if self.first is not None:
            t.ttft_s = self.first - self.start
            if prompt_tokens and t.ttft_s > 0:
                t.prefill_tok_s = prompt_tokens / t.ttft_s
            span = (self.last or self.first) - self.first
            if completion_tokens > 1 and span > 0:
                t.decode_tok_s = (completion_tokens - 1) / span
        return t


def as_matrix(vectors, normalize: bool, url: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise malformed(url, what, f"embeddings are not a list of number lists ({e})") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise malformed(url, what, f"embeddings have shape {arr.shape}, expected (n, dim)")
    if normalize:
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        arr = (arr / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return arr


def export_base_url(backend: str, base_url: str | None) -> None:
    """--base-url for commands whose backends open in child processes (labs, bench): put it in
    the environment variable the backend's record names (harness/backends/catalog.py), which the
    children inherit."""
    import os

    if not base_url:
        return
    record = catalog.find(backend)
    if record is None or record.base_url_env is None:
        servers = " or ".join(b.name for b in catalog.server_backends())
        raise BackendError(
            f"--base-url is for --backend {servers}, not {backend!r}", hint="drop --base-url, or pick a server backend"
        )
    os.environ[record.base_url_env] = base_url


def export_base_urls(backends: list[str], values: list[str]) -> None:
    """`harness bench --base-url`: each value is `BACKEND=URL`, or a bare URL when exactly one of
    the benchmarked backends is a server backend."""
    server_names = {b.name for b in catalog.server_backends()}
    servers = [b for b in dict.fromkeys(backends) if b in server_names]
    for value in values:
        name, sep, url = value.partition("=")
        if sep and name in catalog.names():
            if name not in backends:
                raise BackendError(
                    f"--base-url {value!r} names backend {name!r}, which is not benchmarked",
                    hint=f"add --backend {name}, or drop this --base-url",
                )
            export_base_url(name, url)
        elif len(servers) == 1:
            export_base_url(servers[0], value)
        else:
            examples = " and/or ".join(
                f"--base-url {b.name}=" + (b.default_base_url or "http://HOST:PORT/v1")
                for b in catalog.server_backends()
            )
            raise BackendError(
                f"--base-url {value!r} does not say which backend it is for ({len(servers)} server backends benchmarked)",
                hint=f"write {examples}",
            )
