"""Backends: one protocol, several engines (llama.cpp in-process, Ollama, OpenAI-compatible).

catalog.py holds one record per backend; registry.open_backend opens one. The protocol's types
are loaded on first use, so importing the catalog (the CLI does) does not import numpy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Backend", "BackendInfo", "Chunk", "Completion", "Timings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness.backends import base

        return getattr(base, name)
    raise AttributeError(f"module 'harness.backends' has no attribute {name!r}")
