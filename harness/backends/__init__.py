"""Backends: one protocol, several engines (llama.cpp in-process, Ollama, OpenAI-compatible)."""

from harness.backends.base import Backend, BackendInfo, Chunk, Completion, Timings

__all__ = ["Backend", "BackendInfo", "Chunk", "Completion", "Timings"]
