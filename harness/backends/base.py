"""The Backend protocol every engine implements, and the value types it returns.

Labs and benchmarks only see these types, so the same lab runs on any backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

Message = Mapping[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass
class Timings:
    """Seconds and tokens/second for one call. None where the backend cannot tell."""

    load_s: float | None = None  # model load (first call of a backend only, else 0)
    ttft_s: float | None = None  # request start -> first generated token
    prefill_tok_s: float | None = None
    decode_tok_s: float | None = None
    total_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    timings: Timings
    finish_reason: str | None = None  # "stop" | "length"
    cached_tokens: int | None = None  # prompt tokens reused from the KV cache; None: the backend cannot tell

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timings"] = self.timings.to_dict()
        return d


@dataclass
class Chunk:
    """One piece of a stream. The last chunk has done=True and carries the Completion."""

    text: str
    done: bool = False
    completion: Completion | None = None


def final_completion(chunks: Iterator[Chunk]) -> Completion:
    """The Completion a stream ends with; the stream is read to its end (so a server's response closes)."""
    completion = None
    for chunk in chunks:
        if chunk.done:
            completion = chunk.completion
    if completion is None:  # every backend's stream ends with one
        raise RuntimeError("the stream ended without a final chunk")
    return completion


@dataclass
class BackendInfo:
    backend: str  # "llama-cpp" | "ollama" | "openai"
    model: str  # lock name or server-side model id
    version: str | None = None  # backend library/server version
    device: str = "cpu"  # what is actually used: "cpu" | "gpu"
    gpu_offload_supported: bool = False
    n_gpu_layers: int = 0
    n_layers: int | None = None
    device_reason: str | None = None  # why auto picked what it picked
    threads: int | None = None
    n_ctx: int | None = None
    n_batch: int | None = None
    build_flags: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """A loaded model behind some engine. Chat models implement chat/stream/complete;
    embedding models implement embed. Calls that a model cannot serve raise BackendError."""

    name: str

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Completion: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Iterator[Chunk]: ...

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
    ) -> Completion: ...

    def embed(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...

    def info(self) -> BackendInfo: ...

    def close(self) -> None: ...
